"""`python -m benchmarks.platforms` keeps benchmarks/RESULTS.md's history: its section goes on
top of the earlier ones, below the history's introduction."""

from __future__ import annotations

import argparse

from benchmarks.platforms import write_history


def test_the_platforms_benchmark_writes_its_section_on_top_of_the_history(tmp_path):
    markdown = tmp_path / "RESULTS.md"
    markdown.write_text("# Results\n\n## Wall time\n\nt\n\n## History\n\nIntro.\n\n"
                        "### older\n\nx\n")
    args = argparse.Namespace(repeat=3, shards=1, interface_client="awslambdaric",
                              out="benchmarks/platforms.jsonl")
    write_history(markdown, args, [{"experiment": "TR 1,024 leaves", "platform": "aws",
                                    "path": "wall time", "seconds": 0.25}])
    text = markdown.read_text()
    assert text.startswith("# Results\n\n## Wall time\n\nt\n\n## History\n\nIntro.\n\n### ")
    assert text.index("`python -m benchmarks.platforms --repeat 3`") < text.index("### older")
    assert "executors hosted by awslambdaric" in text
    assert "| TR 1,024 leaves | aws | wall time | 0.2500 |" in text
    assert text.endswith("### older\n\nx\n")
