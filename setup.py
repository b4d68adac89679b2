"""Build the optional C accelerators (metadata lives in pyproject.toml).

- authledger.gateway._digest: the verifier's canonicalisation (authledger.gateway.accelerator selects it);
- projections._check: AuthIndex.check / check_app (projections.accelerator selects it);
- projections._temporal: the audit index builder's grant rows (projections.temporal_accel selects it).

``optional=True``: when the compiler or the Python headers are missing, the install still
succeeds and each selector falls back to its pure-Python reference.
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
        Extension(
            "projections._check",
            sources=["projections/_check.c"],
            optional=True,
            extra_compile_args=["-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
        ),
        Extension(
            "projections._temporal",
            sources=["projections/_temporal.c"],
            optional=True,
            extra_compile_args=["-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
        ),
    ]
)
