"""The example notebook, run cell by cell by a real Jupyter kernel
(nbclient) against a Floe Flight SQL server."""

import os
from pathlib import Path

import nbclient
import nbformat

from conftest import FlightServer, floe_rows

NOTEBOOK = Path(__file__).parent.parent / "examples" / "feature_engineering.ipynb"


def test_feature_engineering_notebook(tmp_path, monkeypatch):
    wh = tmp_path / "wh"
    wh.mkdir()
    with FlightServer(wh) as server:
        monkeypatch.setenv("FLOE_FLIGHT_URI", server.uri)
        notebook = nbformat.read(NOTEBOOK, as_version=4)
        client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3")
        client.execute()
    # The notebook asserts its own results; what it left in the warehouse:
    assert floe_rows(wh, "SELECT trip_id, speed_kmh FROM lab.trips ORDER BY trip_id") == [
        ["1", "18.0"], ["2", "24.0"], ["3", "20.0"], ["4", "30.0"], ["5", "30.0"], ["6", "20.0"],
    ]
    assert floe_rows(wh, "SHOW BRANCHES") == [["feat_speed", "1", ""], ["main", "1", "*"]]
    # The merge was a fast-forward: main is at the branch's head.
    refs = dict(floe_rows(wh, 'SELECT name, snapshot_id FROM lab."trips$refs" WHERE type = \'BRANCH\''))
    assert refs.keys() == {"main", "feat_speed"}
    assert refs["main"] == refs["feat_speed"]
