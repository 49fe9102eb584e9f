"""The VS Code extension's contributed settings equal the server's settings schema.

The schema (`python -m incls.lsp.settings --json`) is the single source of truth;
`npm run settings` in vscode-client/ regenerates package.json from it. The extension adds
only its own client settings (vscode-client/src/client-settings.json).
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "vscode-client"


def server_schema() -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "incls.lsp.settings", "--json"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out)["properties"]


def test_contributed_settings_equal_the_server_schema():
    server = {k if k.startswith("incls.") else f"incls.{k}": v for k, v in server_schema().items()}
    client = json.loads((CLIENT / "src" / "client-settings.json").read_text())
    contributed = json.loads((CLIENT / "package.json").read_text())["contributes"]["configuration"]["properties"]
    hint = "run `npm run settings` in vscode-client/"
    assert not set(server) & set(client), "a setting is both the server's and the client's"
    assert set(contributed) == set(server) | set(client), (
        f"{hint}: missing {sorted(set(server) | set(client) - set(contributed))}, "
        f"extra {sorted(set(contributed) - set(server) - set(client))}"
    )
    for key, entry in server.items():
        assert contributed[key] == entry, f"{hint}: {key} differs: {contributed[key]!r} != {entry!r}"
    for key, entry in client.items():
        assert contributed[key] == entry, f"{key} differs from src/client-settings.json"
