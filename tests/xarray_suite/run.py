"""Run xarray's zarr tests twice, with plain xarray and through xzarrio, and compare.

``python -m tests.xarray_suite.run [--json FILE]`` from the project's root
prints the counts; the test suite runs the same comparison
(``tests/test_xarray_suite.py``). A test counts only where it passes with
plain xarray. Through xzarrio each such test either passes, fails only on
the text of an error (``pytest.raises(..., match=...)``: the class is right),
fails because ``.zio`` refused a keyword, or fails otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: the classes of xarray's own zarr tests that the comparison runs
CLASSES = (
    "TestZarrDirectoryStore",
    "TestZarrDictStore",
    "TestZarrWriteEmpty",
    "TestZarrRegionAuto",
)
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Comparison:
    """How xarray's zarr tests that pass with plain xarray fare through xzarrio."""

    passed_with_xarray: int
    passed: int
    message_only: list[str] = field(default_factory=list)
    unsupported_keyword: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        causes = Counter(error.split(":")[0] for error in self.failed.values())
        lines = [
            f"xarray's zarr tests passing with plain xarray: {self.passed_with_xarray}",
            f"  through xzarrio, passed: {self.passed}",
            f"  failed on an error's text only: {len(self.message_only)}",
            f"  failed on a keyword .zio does not take: {len(self.unsupported_keyword)}",
            f"  failed otherwise: {len(self.failed)}",
        ]
        lines += [f"    {count:4d}  {cause}" for cause, count in causes.most_common(12)]
        return "\n".join(lines)


def start_suite(
    routed: bool, log: Path, classes: tuple[str, ...], *pytest_args: str
) -> subprocess.Popen[str]:
    """Start one pytest run of the classes, logging every test's outcome to *log*."""
    env = {**os.environ, "XZARRIO_SUITE": "xzarrio" if routed else "xarray"}
    env["XZARRIO_SUITE_LOG"] = str(log)
    command = [
        sys.executable, "-m", "pytest", "-c", str(Path(__file__).with_name("pytest.ini")),
        "--rootdir", str(ROOT), "--pyargs", "xarray.tests.test_backends",
        "-k", " or ".join(classes), "-p", "tests.xarray_suite.plugin",
        "-p", "no:cacheprovider", "-q", "--no-header", "-rN", "-W", "ignore", *pytest_args,
    ]  # fmt: skip
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def outcomes_of(run: subprocess.Popen[str], log: Path) -> dict[str, dict[str, object]]:
    """Wait for *run*; every test's last logged outcome, by test id."""
    output, _ = run.communicate()
    if not log.exists():
        raise RuntimeError(f"xarray's tests did not run:\n{output[-3000:]}")
    outcomes: dict[str, dict[str, object]] = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        outcomes[entry["test"]] = entry
    return outcomes


def compare(classes: tuple[str, ...] = CLASSES, *pytest_args: str) -> Comparison:
    """Run the test *classes* with plain xarray and through xzarrio, side by side."""
    with tempfile.TemporaryDirectory() as folder:
        logs = Path(folder) / "xarray.jsonl", Path(folder) / "xzarrio.jsonl"
        runs = tuple(
            start_suite(routed, log, classes, *pytest_args)
            for routed, log in zip((False, True), logs, strict=True)
        )
        plain, ours = (outcomes_of(run, log) for run, log in zip(runs, logs, strict=True))
    good = sorted(test for test, entry in plain.items() if entry["outcome"] == "passed")
    result = Comparison(passed_with_xarray=len(good), passed=0)
    for test in good:
        entry = ours.get(test, {"outcome": "missing", "error": "not run", "message_only": False})
        if entry["outcome"] == "passed":
            result.passed += 1
        elif entry["message_only"]:
            result.message_only.append(test)
        elif "unexpected keyword argument" in str(entry["error"]):
            result.unsupported_keyword.append(test)
        else:
            result.failed[test] = str(entry["error"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the comparison here")
    parser.add_argument("--classes", nargs="+", default=list(CLASSES), help="test classes to run")
    args, pytest_args = parser.parse_known_args()
    result = compare(tuple(args.classes), *pytest_args)
    print(result.summary())
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(result), indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
