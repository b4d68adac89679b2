"""Build the optional C accelerator gateway._digest (metadata lives in pyproject.toml).

``optional=True``: when the compiler or the Python headers are missing, the install still
succeeds and gateway.accelerator falls back to the pure-Python reference (gateway.signing).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "gateway._digest",
            sources=["gateway/_digest.c"],
            optional=True,
            extra_compile_args=["-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
        )
    ]
)
