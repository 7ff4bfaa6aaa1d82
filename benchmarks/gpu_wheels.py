"""Prepare the wheels the GPU machine lacks, and check that they resolve against its image.

The GPU machine (Python 3.12, x86-64) reaches no package registry: what the package needs
beyond the machine's image travels with the working tree as wheels, in a folder ignored by git
and named in the device call's ``carry``. This script

* ``download``: takes every package of this (Python 3.12) environment that the image lacks,
  at the version installed here (the newest stack that CI tests), and downloads its wheel for
  Python 3.12 / manylinux x86-64 with ``pip download --no-deps --only-binary=:all:`` into the
  folder;
* ``check``: reads the ``Requires-Dist`` of every wheel in the folder and of the package
  itself, and checks that each requirement (markers evaluated for Python 3.12 on Linux) is met
  by the image or by a wheel in the folder, and that the folder holds one version of each
  package; exits 1 naming what is missing or in conflict.

The image's packages are those listed in the device documentation (``IMAGE_PACKAGES``), with
versions where it gives them (``IMAGE_VERSIONS``).

Usage (from the repository root, in the Python 3.12 environment)::

    python benchmarks/gpu_wheels.py download --dir .gpu-wheels
    python benchmarks/gpu_wheels.py check --dir .gpu-wheels
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent

#: The packages of the GPU machine's image (device documentation, read 2026-11-17).
_IMAGE_LIST = """
    absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs
    botorch build certifi charset-normalizer chex click cloudpickle cmake colorama contourpy
    coverage cuda-bindings cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython
    diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools formulaic
    frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize
    hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib
    jaxtyping jinja2 joblib kiwisolver lazy-loader lightning lightning-utilities linear-operator
    lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes
    mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals networkx
    ninja numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc
    nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand
    nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py nvidia-nccl-cu13
    nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript
    opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging
    pandas pathspec patsy peft pillow pip pluggy portalocker prometheus-client propcache
    protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing pyproject-hooks
    pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist
    python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors
    scikit-build-core scikit-image scikit-learn scipy seaborn sentencepiece
    sentence-transformers setuptools shellingham simplejson six sortedcontainers statsmodels
    sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile
    tiktoken timm tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics
    torchvision tqdm transformers treescope triton typer typing-extensions typing-inspect
    urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp
"""
IMAGE_PACKAGES = frozenset(canonicalize_name(name) for name in _IMAGE_LIST.split())
#: Versions the device documentation gives for some of them.
IMAGE_VERSIONS = {
    "torch": "2.11.0",
    "numpy": "2.5.2",
    "transformers": "5.17.0",
    "pytorch-lightning": "2.6.6",
    "safetensors": "0.8.0",
    "tokenizers": "0.23.2",
    "huggingface-hub": "1.33.0",
    "jax": "0.11.2",
    "torchmetrics": "1.9.0",
}
#: Markers of the GPU machine, for evaluating ``Requires-Dist`` conditions.
MACHINE = default_environment() | {
    "python_version": "3.12",
    "python_full_version": "3.12.3",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
}
#: ``pip download`` platforms of the machine (pip matches each exactly).
PLATFORMS = [f"manylinux_2_{n}_x86_64" for n in (17, 27, 28, 31, 34)]
PLATFORMS += ["manylinux2014_x86_64", "manylinux1_x86_64"]
#: Versions carried instead of the installed ones: in range, and far smaller (POT 0.9.7's
#: wheel is 33 MB).
VERSION_OVERRIDES = {"pot": "0.9.6.post1"}
#: Not needed there: the project's own build and test tools, and the extras not run there.
NOT_CARRIED = frozenset(canonicalize_name(n) for n in ("calmflow-sc", "ruff", "cell-eval"))


def project_requirements(extras: Iterable[str] = ()) -> list[Requirement]:
    """The package's dependencies (and those of ``extras``) from pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    return [Requirement(line) for line in lines]


def wheel_metadata(path: Path) -> tuple[str, Version, list[Requirement]]:
    """Name, version and requirements of a wheel (its ``*.dist-info/METADATA``)."""
    name, version, _, _ = parse_wheel_filename(path.name)
    with zipfile.ZipFile(path) as archive:
        member = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(member).decode()
    requires = [
        Requirement(line.split(":", 1)[1].strip())
        for line in text.splitlines()
        if line.startswith("Requires-Dist:")
    ]
    return str(name), version, requires


def applies(requirement: Requirement, extras: Iterable[str] = ()) -> bool:
    """Whether a requirement holds on the machine (its marker, for the extras asked)."""
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate(MACHINE | {"extra": extra}) for extra in ("", *extras))


def check_folder(
    folder: Path,
    requirements: Iterable[Requirement],
    image: Iterable[str] = IMAGE_PACKAGES,
    image_versions: Mapping[str, str] = IMAGE_VERSIONS,
) -> list[str]:
    """What stops ``requirements`` from resolving with the image and ``folder``'s wheels.

    Returns
    -------
    One line per problem: a requirement met by neither the image nor a wheel, a wheel or
    image version outside a requirement's range, or two wheels of one package. Empty when
    everything resolves.
    """
    image = {canonicalize_name(n) for n in image}
    versions = {canonicalize_name(n): Version(v) for n, v in image_versions.items()}
    wheels: dict[str, list[tuple[Version, list[Requirement]]]] = {}
    for path in sorted(folder.glob("*.whl")):
        name, version, requires = wheel_metadata(path)
        wheels.setdefault(canonicalize_name(name), []).append((version, requires))
    problems = [
        f"{name}: {len(found)} wheels ({', '.join(str(v) for v, _ in found)}); keep one"
        for name, found in wheels.items()
        if len(found) > 1
    ]
    pending = [(r, "the package") for r in requirements if applies(r)]
    seen: set[str] = set()
    while pending:
        requirement, wanted_by = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in NOT_CARRIED:
            continue
        if name in wheels:
            version, requires = wheels[name][0]
            if requirement.specifier and version not in requirement.specifier:
                problems.append(
                    f"{name} {version} (wheel) does not meet {requirement} of {wanted_by}"
                )
            if name not in seen:
                seen.add(name)
                extras = sorted(requirement.extras)
                pending += [(r, name) for r in requires if applies(r, extras)]
        elif name in image:
            version = versions.get(name)
            if (
                version is not None
                and requirement.specifier
                and version not in requirement.specifier
            ):
                problems.append(
                    f"{name} {version} (image) does not meet {requirement} of {wanted_by}: "
                    "carry a wheel of a version in range"
                )
        else:
            problems.append(f"{name}: needed by {wanted_by} ({requirement}), in neither")
    return problems


def carried_packages(
    requirements: Iterable[Requirement], image: Iterable[str] = IMAGE_PACKAGES
) -> dict[str, str]:
    """The packages ``requirements`` need, directly or not, that the image lacks.

    Walks the requirements through the metadata of this environment's installed
    distributions (markers evaluated for the machine); each package at its installed version.
    """
    image = {canonicalize_name(n) for n in image}
    found: dict[str, str] = {}
    pending = [(r, ()) for r in requirements if applies(r)]
    seen: set[str] = set()
    while pending:
        requirement, _ = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in seen or name in NOT_CARRIED:
            continue
        seen.add(name)
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            if name not in image:
                print(f"{name} is not installed here: install it, then download again")
            continue
        if name in image:  # its own needs are the image's
            continue
        found[name] = distribution.version
        extras = sorted(requirement.extras)
        for line in distribution.requires or []:
            nested = Requirement(line)
            if applies(nested, extras):
                pending.append((nested, extras))
    return dict(sorted(found.items()))


def download(folder: Path, packages: Mapping[str, str]) -> None:
    """``pip download`` each package's wheel for the machine into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, version in packages.items():
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
        command += ["--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp"]
        for platform in PLATFORMS:
            command += ["--platform", platform]
        command += ["-d", str(folder), f"{name}=={version}"]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:  # a pure-Python package published as an sdist only
            command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"]
            command += ["-w", str(folder), f"{name}=={version}"]
            result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            print(f"could not get {name}=={version}: {result.stderr.strip()[-300:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["download", "check"])
    parser.add_argument("--dir", type=Path, default=ROOT / ".gpu-wheels")
    parser.add_argument("--extras", nargs="*", default=["annbatch"])
    args = parser.parse_args(argv)
    if args.action == "download":
        packages = carried_packages(project_requirements(args.extras)) | VERSION_OVERRIDES
        print(f"downloading {len(packages)} wheels into {args.dir}")
        download(args.dir, packages)
    problems = check_folder(args.dir, project_requirements(args.extras))
    size = sum(p.stat().st_size for p in args.dir.glob("*.whl")) / 2**20
    print(f"{len(list(args.dir.glob('*.whl')))} wheels, {size:.1f} MiB")
    for problem in problems:
        print(problem)
    print("resolves against the image" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
