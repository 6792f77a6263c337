"""Fetch Java artifacts from Maven Central with the machine's Maven, cached under the repo.

Everything lives below one cache folder (``Settings().cache_dir``): Maven's local repository
in ``m2/`` and each resolved set of jars in its own folder with a ``.resolved`` stamp. A run
whose stamp matches what is asked for never starts Maven, so warm starts need no network.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from ico_core.errors import ServiceError

STAMP = ".resolved"


def maven_repo(cache_dir: Path) -> Path:
    return cache_dir / "m2"


def run_maven(args: Sequence[str], *, cwd: Path, cache_dir: Path, timeout: float = 1800) -> None:
    """Run ``mvn`` in batch mode with the cache's local repository; raise with its output tail."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ServiceError("Maven (mvn) is not installed; it fetches the Kafka and registry jars")
    argv = [mvn, "-B", "-q", f"-Dmaven.repo.local={maven_repo(cache_dir)}", *args]
    try:
        done = subprocess.run(
            argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ServiceError(f"Maven did not finish in {timeout:.0f}s: {' '.join(argv)}") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
        raise ServiceError(f"Maven failed ({done.returncode}): {' '.join(argv)}\n{tail}")


def dependencies_pom(name: str, coordinates: Sequence[str]) -> str:
    """A throw-away pom whose runtime classpath is ``coordinates`` (group:artifact:version)."""
    deps = []
    for coordinate in coordinates:
        parts = coordinate.split(":")
        if len(parts) != 3:
            raise ServiceError(f"expected group:artifact:version, got {coordinate!r}")
        group, artifact, version = (escape(p) for p in parts)
        deps.append(
            f"    <dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
            f"<version>{version}</version></dependency>"
        )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        f"  <groupId>local.ico-analytics</groupId><artifactId>{escape(name)}</artifactId>"
        "<version>1</version><packaging>pom</packaging>\n"
        "  <dependencies>\n" + "\n".join(deps) + "\n  </dependencies>\n</project>\n"
    )


def resolve_jars(name: str, coordinates: Sequence[str], cache_dir: Path) -> Path:
    """Copy ``coordinates`` and their runtime dependencies into ``cache_dir/name/libs``.

    Returns the libs folder. Cached: a second call with the same coordinates does nothing.
    """
    # Absolute: Maven runs in ``home``, where a relative cache (the default ``.cache``) would
    # put the jars and its repository under ``home`` itself.
    cache_dir = cache_dir.absolute()
    home = cache_dir / name
    libs = home / "libs"
    pom = dependencies_pom(name, coordinates)
    if is_fresh(home, pom):
        return libs
    home.mkdir(parents=True, exist_ok=True)
    (home / "pom.xml").write_text(pom)
    if libs.exists():
        shutil.rmtree(libs)  # a changed dependency set must not leave stale jars behind
    run_maven(
        [
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={libs}",
        ],
        cwd=home,
        cache_dir=cache_dir,
    )
    mark_fresh(home, pom)
    return libs


def is_fresh(home: Path, recipe: str) -> bool:
    """True when ``home`` was completed from exactly this recipe (pom text)."""
    stamp = home / STAMP
    return stamp.exists() and stamp.read_text().strip() == _digest(recipe)


def mark_fresh(home: Path, recipe: str) -> None:
    (home / STAMP).write_text(_digest(recipe) + "\n")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
