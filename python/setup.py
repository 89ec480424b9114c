"""Builds the ringraft package's extension (_ringraft) with CMake.

The extension is the CMake target ringraft_py of the checkout this file is
in (python/ of the repository). With RINGRAFT_BUILD_DIR set to a configured
build tree (e.g. build/release) that tree is reused; otherwise a Release
tree with only the library and the module is configured under build/pip
of the checkout. Every dependency comes from Debian (see README.md).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


class CMakeExtension(Extension):
    def __init__(self) -> None:
        super().__init__("ringraft._ringraft", sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext: Extension) -> None:
        build = os.environ.get("RINGRAFT_BUILD_DIR")
        if build:
            build_dir = Path(build).resolve() if Path(build).is_absolute() else (ROOT / build)
        else:
            build_dir = ROOT / "build" / "pip"
            subprocess.check_call([
                "cmake", "-S", str(ROOT), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release",
                "-DRINGRAFT_BUILD_TESTS=OFF", "-DRINGRAFT_BUILD_BENCHMARKS=OFF",
                "-DRINGRAFT_BUILD_EXAMPLES=OFF", "-DRINGRAFT_BUILD_TOOLS=OFF",
                "-DRINGRAFT_INSTALL=OFF", "-DRINGRAFT_BUILD_PYTHON=ON",
                f"-DPython_EXECUTABLE={sys.executable}"])
        jobs = os.environ.get("JOBS", str(os.cpu_count() or 1))
        subprocess.check_call(["cmake", "--build", str(build_dir), "--target", "ringraft_py",
                               "-j", jobs])
        built = sorted((build_dir / "python" / "ringraft").glob("_ringraft*.so"))
        if not built:
            raise RuntimeError(f"no _ringraft module under {build_dir}/python/ringraft")
        dest = Path(self.get_ext_fullpath(ext.name))
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built[0], dest)


setup(
    packages=["ringraft"],
    package_data={"ringraft": ["__init__.pyi", "py.typed"]},
    ext_modules=[CMakeExtension()],
    cmdclass={"build_ext": CMakeBuild},
    zip_safe=False,
)
