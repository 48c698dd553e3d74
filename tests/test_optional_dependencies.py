"""Test modules whose optional dependencies are missing are skipped, never errors."""

import subprocess
import sys
from pathlib import Path


def test_distributed_tests_are_skipped_without_pyarrow(tmp_path):
    """Without pyarrow, tests/test_distributed.py errored at collection (fastmf.distributed
    needs dask.dataframe, which needs pyarrow) instead of being skipped."""
    module = Path(__file__).with_name("test_distributed.py")
    code = ("import sys; sys.modules['pyarrow'] = None\n"
            "import pytest\n"
            f"sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', {str(module)!r}]))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=tmp_path, timeout=300)
    # 5: no test ran (the module was skipped); a collection error gives 2
    assert result.returncode in (0, 5), result.stdout[-2000:]
    assert "1 skipped" in result.stdout and "error" not in result.stdout.lower()
