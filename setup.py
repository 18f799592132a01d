"""perception_kd: 3D perception distillation on driving data."""
from pathlib import Path

from setuptools import find_packages, setup


def read_requirements(name: str) -> list:
    path = Path(__file__).parent / 'requirements' / name
    lines = (line.split('#')[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


setup(
    name='perception_kd',
    version='0.1.0',
    description='BEV cross-modality, X-Ray and LiMA distillation for 3D perception on nuScenes',
    long_description=(Path(__file__).parent / 'README.md').read_text(),
    long_description_content_type='text/markdown',
    python_requires='>=3.10',
    packages=find_packages(include=['perception_kd', 'perception_kd.*']),
    # the C++ sources that perception_kd.ops.native compiles on first use
    package_data={'perception_kd.ops': ['csrc/*.cpp']},
    install_requires=read_requirements('torch.txt') + read_requirements('runtime.txt'),
    extras_require={'tests': read_requirements('tests.txt')},
)
