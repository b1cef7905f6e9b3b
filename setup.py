"""Build the optional C core of the read stage (everything else is in pyproject.toml).

``pcapline.read._native`` walks capture records in C (src/pcapline/read/_native.c). It is
optional: where no C compiler is available the build prints a warning and pcapline uses
its pure-Python walkers, which give the same results, only slower.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "pcapline.read._native",
            sources=["src/pcapline/read/_native.c"],
            optional=True,
        )
    ]
)
