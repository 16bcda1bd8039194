"""A distribution of playbooks installed into a directory (a real ``*.dist-info`` with
entry points), for the tests of playbooks installed as entry points."""

from __future__ import annotations

from pathlib import Path

MODULE = "acme_playbooks"

SOURCE = """
from grace.services.self_healing import Playbook, PlaybookStep


async def page_owner(run):
    return {"paged": run.context.get("model_id")}


def playbooks():
    return [Playbook("page_owner", "ml_model", [PlaybookStep("page_owner", page_owner)],
                     description="Page the model's owner", resource_key="model_id")]


broken = 42
"""


def install_plugin(site: Path, entry_points: str = "page_owner = acme_playbooks:playbooks") -> Path:
    """Install the ``acme-playbooks`` distribution into ``site`` (a directory to put on
    sys.path or PYTHONPATH) declaring ``entry_points`` in the grace.playbooks group; its
    dist-info directory."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{MODULE}.py").write_text(SOURCE)
    info = site / "acme_playbooks-1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-playbooks\nVersion: 1.0\n")
    declare(info, entry_points)
    return info


def declare(info: Path, entry_points: str) -> None:
    (info / "entry_points.txt").write_text(f"[grace.playbooks]\n{entry_points}\n")
