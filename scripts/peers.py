"""What the check and bench scripts share: a koubei binary, and a peer
installed from PyPI."""

import importlib
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def koubei(path=None, release=False):
    """`path`, or koubei built here (debug unless `release`)."""
    return path or _build(["-p", "koubei-cli"], "koubei", release)


def example(name, package, path=None, release=True):
    """`path`, or the example `name` of `package` built here."""
    return path or _build(["-p", package, "--example", name], os.path.join("examples", name), release)


def _build(args, output, release):
    profile = ["--release"] if release else []
    subprocess.run(["cargo", "build", "-q", *profile, *args], cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "release" if release else "debug", output)


def module(name, package=None):
    """The module `name`, installed from PyPI (`package`) if missing; exits 2,
    saying so, when it cannot be."""
    try:
        return importlib.import_module(name)
    except ImportError:
        pass
    if subprocess.run([sys.executable, "-m", "pip", "install", "-q", package or name]).returncode != 0:
        print(f"cannot install {package or name} from PyPI: nothing checked", file=sys.stderr)
        sys.exit(2)
    return importlib.import_module(name)
