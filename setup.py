"""Build the optional C core of the read stage (everything else is in pyproject.toml).

``pcapline.read._native`` walks capture records in C (src/pcapline/read/_native.c). It is
optional: where no C compiler is available the build prints a warning and pcapline uses
its pure-Python walkers, which give the same results, only slower.

An in-place build (``pip install -e .``, ``python setup.py build_ext --inplace``) also
byte-compiles the package: pip compiles a regular install's modules but not an editable
one's, and where ``PYTHONDONTWRITEBYTECODE`` is set (common in containers and CI) every run
would compile all of pcapline again, ~0.2 CPU s of a sample capture's ~0.8 s.
"""

import compileall
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

PACKAGE = Path(__file__).resolve().parent / "src" / "pcapline"


class BuildExtThenCompile(build_ext):  # type: ignore[misc]
    def run(self) -> None:
        super().run()
        if self.inplace:
            compileall.compile_dir(str(PACKAGE), quiet=1)


setup(
    cmdclass={"build_ext": BuildExtThenCompile},
    ext_modules=[
        Extension(
            "pcapline.read._native",
            sources=["src/pcapline/read/_native.c"],
            optional=True,
        )
    ],
)
