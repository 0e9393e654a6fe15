"""Packaging for tooltool-proxy: a stateless tooltool server on object storage."""

from setuptools import find_packages, setup

# aiobotocore pins botocore to a narrow window; boto3 (used by moto and the admin
# tests) must resolve inside the same window, so both are pinned together here.
BOTOCORE_RANGE = ">=1.43.115,<1.43.118"

setup(
    name="tooltool-proxy",
    version="0.1.0",
    description="A stateless tooltool server that keeps artifacts and metadata in object storage",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MPL-2.0",
    python_requires=">=3.11",
    packages=find_packages(include=["proxy", "proxy.*", "manifests", "manifests.*"]),
    package_data={
        "proxy": ["py.typed", "openapi.json", "web/*.*", "web/js/*.js", "web/vendor/*/*"],
        "manifests": ["py.typed"],
    },
    install_requires=[
        "aiohttp>=3.14,<4",
        "aiobotocore>=3.10,<3.11",
        f"botocore{BOTOCORE_RANGE}",
        "taskcluster>=90",
        "mohawk>=1.1,<2",
        "cachetools>=5.3,<9",
        "sentry-sdk>=2.0,<3",
        "dockerflow>=2024.1",
        "prometheus-client>=0.20,<1",
        "tqdm>=4.66",
        # RSA keys for CloudFront signed URLs (botocore signs, cryptography holds the key).
        "cryptography>=42,<51",
        "yarl>=1.9,<2",
    ],
    extras_require={
        "test": [
            "pytest>=8,<10",
            "pytest-aiohttp>=1.1,<2",
            "pytest-asyncio>=0.24",
            # tox.ini runs the suite on every core (-n auto): most tests wait on servers and processes.
            "pytest-xdist>=3.6,<4",
            "moto[s3,server]>=5.1,<6",
            f"boto3{BOTOCORE_RANGE}",
            "flask>=3",
            "flask-cors>=4",
            "hypothesis>=6.100,<7",
            "schemathesis>=4.32,<5",
            "jsonschema>=4.23,<5",
            "openapi-spec-validator>=0.7,<1",
            # tests/browser: drives Debian's chromium (never a downloaded browser; see tests/browser/chromium.py).
            "playwright>=1.49,<2",
        ],
        "dev": [
            "ruff>=0.6",
            "mypy>=1.11",
            "types-cachetools",
            "types-tqdm",
            "tox>=4",
            # The profiler of `python -m benchmarks.profile` (BENCHMARKS.md): attaches to a running proxy.
            "py-spy>=0.3",
        ],
        # `python -m benchmarks`: moto_server to run against (wrk comes from the OS, when present).
        "bench": [
            "moto[s3,server]>=5.1,<6",
            f"boto3{BOTOCORE_RANGE}",
            "flask>=3",
            "flask-cors>=4",
        ],
    },
    entry_points={"console_scripts": ["tooltool-proxy = proxy.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3.11",
        "Framework :: aiohttp",
    ],
)
