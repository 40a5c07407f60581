"""Where the course lives, and how a notebook opened anywhere reaches it: the repository, the tag, the badges, the setup cell.

This module is the one place that names the course's repository and the version notebooks install: the setup cell
and the badges of every notebook and of the README are generated from it by ``python -m cmlesson student
--sync-setup`` (:func:`cmlesson.authoring.student.sync_setup`). A fork changes :data:`REPOSITORY`, then runs that command.

The setup cell is plain Python (the notebooks hold no IPython magics) and needs nothing but the standard library:
it runs before cmlesson exists in the kernel.
"""

from __future__ import annotations

from urllib.parse import quote

from .. import __version__

REPOSITORY = "cmlesson/cmlesson"  # GitHub owner/name of the course
TAG = f"v{__version__}"  # the git tag of this version: badges open it, the setup cell installs it
SOURCE_ENV = "CMLESSON_SOURCE"  # set to a path or URL, it replaces the repository as what the setup cell installs
SETUP_CELL_ID = "cmlesson-setup"  # the setup cell's id in every notebook: how the generator finds it again
STUDENT_FOLDER = "notebooks"  # badges open the student notebooks


def archive_url() -> str:
    """The repository at :data:`TAG` as a zip archive: what pip installs (no git needed on the runtime)."""
    return f"https://github.com/{REPOSITORY}/archive/refs/tags/{TAG}.zip"


def colab_url(path: str) -> str:
    """Open ``path`` (a notebook, relative to the repository root) in Google Colab, at :data:`TAG`."""
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{TAG}/{path}"


def kaggle_url(path: str) -> str:
    """Open ``path`` in Kaggle: its "welcome" link takes the notebook's raw GitHub URL."""
    return f"https://kaggle.com/kernels/welcome?src=https://raw.githubusercontent.com/{REPOSITORY}/{TAG}/{path}"


def binder_url(path: str) -> str:
    """Open ``path`` in JupyterLab on mybinder.org (built from environment.yml and postBuild at :data:`TAG`)."""
    return f"https://mybinder.org/v2/gh/{REPOSITORY}/{TAG}?labpath={quote(path, safe='')}"


BADGE_IMAGES = {
    "Open In Colab": ("https://colab.research.google.com/assets/colab-badge.svg", colab_url),
    "Open In Kaggle": ("https://kaggle.com/static/images/open-in-kaggle.svg", kaggle_url),
    "Launch Binder": ("https://mybinder.org/badge_logo.svg", binder_url),
}
BADGE_PREFIX = "[![Open In Colab]"  # how a badge line starts: the generator replaces such a line, never adds a second
TIMES_FILE = "solutions/running_times.json"  # relative to the root; written by `make bench-readme` (bench.write_times)
TIME_PREFIX = "*Running time:"  # how the line under the badges starts: the generator replaces it, never adds a second


def badges(name: str) -> str:
    """The three badges of the student notebook ``name`` (e.g. ``01_consistency_property.ipynb``), as one Markdown line."""
    path = f"{STUDENT_FOLDER}/{name}"
    return " ".join(f"[![{alt}]({image})]({link(path)})" for alt, (image, link) in BADGE_IMAGES.items())


def running_time(name: str, times: dict) -> str | None:
    """The running-time line of notebook ``name`` from the benchmark's ``times`` (None when it was not timed)."""
    t = times.get("notebooks", {}).get(name)
    if t is None:
        return None
    took = (f"about {t['solution_s']} s with every exercise solved, {t['student_s']} s as handed out" if "student_s" in t
            else f"about {t['solution_s']} s")
    return f"{TIME_PREFIX} {took}, on {times['cpus']} CPU cores (measured by `make bench-readme`).*"


SETUP_SOURCE = '''\
# Setup: run this cell first. Where cmlesson is installed (`make lab`) it does nothing. Where it is missing (Colab,
# Kaggle) it installs cmlesson {tag} from {repository}, adding packages but changing none that is
# installed: the runtime's kernel, numpy and torch keep their versions. (Written by `python -m cmlesson student --sync-setup`.)
import importlib.metadata, importlib.util, os, re, subprocess, sys, tempfile

if importlib.util.find_spec("cmlesson") is None:
    source = os.environ.get("{env}", "{archive}")
    installed = {{re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(): d.version
                 for d in reversed(list(importlib.metadata.distributions())) if d.metadata["Name"]}}
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as pins:  # pip constraints: keep every version
        pins.write("\\n".join(f"{{name}}=={{v}}" for name, v in installed.items() if re.fullmatch(r"[0-9][0-9a-z.+!]*", v)))
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--constraint", pins.name, source],
                         capture_output=True, text=True)
    os.unlink(pins.name)
    importlib.invalidate_caches()
    last = ((pip.stderr + pip.stdout).strip().splitlines() or ["pip failed"])[-1]
    print(f"installed cmlesson from {{source}}" if pip.returncode == 0 else
          f"could not install cmlesson from {{source}} (offline? on Kaggle, turn Internet on in Settings): {{last}}")
if "google.colab" in sys.modules:  # Colab renders ipywidgets 8 only through its custom widget manager
    from google.colab import output
    output.enable_custom_widget_manager()'''


def setup_source() -> str:
    """The source of the setup cell, the first code cell of every notebook."""
    return SETUP_SOURCE.format(tag=TAG, repository=f"github.com/{REPOSITORY}", env=SOURCE_ENV, archive=archive_url())
