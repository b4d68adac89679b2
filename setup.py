"""Build the optional C accelerator (metadata lives in pyproject.toml).

- authledger.gateway._digest: the verifier's canonicalisation (authledger.gateway.accelerator selects it).

``optional=True``: when the compiler or the Python headers are missing, the install still
succeeds and the selector falls back to its pure-Python reference.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "authledger.gateway._digest",
            sources=["authledger/gateway/_digest.c"],
            optional=True,
            extra_compile_args=["-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
        ),
    ]
)
