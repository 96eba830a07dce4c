"""The layers `sam build` made (make test builds before it tests) load on their own: each imports
what the stages take from it, in an interpreter that sees only that layer, the layers it is
deployed beside, and the standard library (site-packages off). A wheel for another Python or
processor, or a library trimmed that something still links, fails here, not in Lambda."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from tests.conftest import ROOT

BUILD = ROOT / ".aws-sam" / "build"

CASES = {
    "PyArrowLayer": (
        (),
        "import pyarrow, pyarrow.parquet, pyarrow.compute, pyarrow.dataset, pyarrow.fs, io\n"
        "t = pyarrow.table({'a': [1, 2, 2]}); b = io.BytesIO(); pyarrow.parquet.write_table(t, b)\n"
        "assert pyarrow.parquet.ParquetFile(pyarrow.BufferReader(b.getvalue())).read().num_rows == 3",
    ),
    "NumpyLayer": ((), "import numpy; assert float(numpy.ones(4) @ numpy.ones(4)) == 4.0"),
    "SklearnLayer": (
        ("NumpyLayer",),
        "from sklearn.linear_model import LogisticRegression\n"
        "from sklearn.ensemble import RandomForestClassifier\n"
        "m = LogisticRegression().fit([[0.0], [1.0], [0.1], [0.9]], [0, 1, 0, 1])\n"
        "assert list(m.predict([[0.0], [1.0]])) == [0, 1]",
    ),
    "MatplotlibLayer": (
        ("NumpyLayer",),
        "import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt\n"
        "plt.plot([0, 1]); plt.savefig(__import__('io').BytesIO(), format='png')",
    ),
    "TheraLayer": (
        (),
        "import aiohttp, aws_lambda_powertools, aws_xray_sdk, zoneinfo, tzdata\n"
        "import thera.enrichment.health, thera.lake.quota, thera.enrichment.breaker\n"
        "assert zoneinfo.ZoneInfo('America/Sao_Paulo')",
    ),
}


def _built_for_this_machine() -> bool:
    """The processor of the built PyArrowLayer's libarrow (the ELF header's e_machine) is this one."""
    elf_machine = {"x86_64": 62, "aarch64": 183}.get(platform.machine())
    libraries = sorted((BUILD / "PyArrowLayer" / "python" / "pyarrow").glob("libarrow.so*"))
    if not libraries or elf_machine is None:
        return False
    return int.from_bytes(libraries[0].read_bytes()[18:20], "little") == elf_machine


@pytest.mark.skipif(not _built_for_this_machine(), reason="no sam build for this machine's processor (make build)")
@pytest.mark.parametrize("layer", sorted(CASES))
def test_built_layer_imports_what_its_stages_use_on_its_own(layer: str) -> None:
    beside, code = CASES[layer]
    paths = [str(BUILD / name / "python") for name in (layer, *beside)]
    result = subprocess.run(
        [sys.executable, "-S", "-c", f"import sys; sys.path[:0] = {paths!r}\n{code}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
