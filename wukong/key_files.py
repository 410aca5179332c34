"""The signing key of a deployment on AWS Lambda, kept in a file only its owner can read.

`wukong deploy` sets the key in the function's environment; a client sending jobs to that
function needs the same key, so it lives in a file (`wukong.security.key-file`, by default
`~/.config/wukong/keys/FUNCTION.key`): read if it exists, else created with a fresh key,
mode 0600 in a 0700 directory. A key file that other users could read is refused. (A
`LocalCluster` needs no file: it generates a key per cluster and hands it to its processes.)
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from storage_manager.signing import OFF, Signer
from wukong.config import setting, signing_enabled

logger = logging.getLogger(__name__)

DEFAULT_KEY_DIR = Path.home() / ".config" / "wukong" / "keys"


def key_file(function: str) -> Path:
    """Where the key of `function`'s deployment is kept."""
    configured = setting("security.key-file")
    return Path(configured).expanduser() if configured else DEFAULT_KEY_DIR / f"{function}.key"


def client_signer(function: str) -> Signer:
    """What a client of `function`'s deployment signs with: its key file's key, which must
    exist (`wukong deploy` made it), or no signing if `wukong.security.sign-payloads` is
    false."""
    if not signing_enabled():
        return Signer(None)
    path = key_file(function)
    if not path.exists():
        raise FileNotFoundError(f"wukong.security.key-file: {path} does not exist, so this "
                                f"client cannot sign what it sends to {function}; copy the "
                                "key file `wukong deploy` made there, or deploy from here")
    return Signer.from_text(deployment_key(function), f"the key in {path}")


def deployment_key(function: str) -> str:
    """The key `function`'s deployment signs with, as text (`Signer.to_text`): `OFF` if
    `wukong.security.sign-payloads` is false, else the key file's, created if missing."""
    if not signing_enabled():
        return OFF
    path = key_file(function)
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(Signer.generate().to_text() + "\n")
        logger.info("created the signing key of %s's deployment in %s", function, path)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PermissionError(f"wukong.security.key-file: {path} may be read by other users "
                              f"(mode {stat.S_IMODE(mode):o}); make it yours alone: "
                              f"chmod 600 {path}")
    text = path.read_text().strip()
    Signer.from_text(text, f"the key in {path} (wukong.security.key-file)")
    return text
