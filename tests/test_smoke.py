from operator import add

import wukong


def test_get_small_graph(cluster):
    dsk = {"x": 1, "y": (add, "x", 10), "z": (add, "x", "y")}
    assert wukong.get(dsk, "z") == 12
    assert wukong.get(dsk, ["z", ["y"]]) == (12, (11,))
