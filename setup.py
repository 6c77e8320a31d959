"""Maps the top-level providers/ folder to the package `portable.providers`.

pyproject.toml holds the metadata; only the package list needs code, because setuptools'
static `find` cannot rename a folder while it discovers its subpackages.
"""
from setuptools import find_packages, setup

core = find_packages(include=["portable", "portable.*"])
providers = ["portable." + p for p in find_packages(include=["providers", "providers.*"])]
package_dir = {"portable": "portable", "portable.providers": "providers"}

setup(
    packages=core + providers,
    package_dir=package_dir,
    package_data={"portable.providers": ["**/*.sh", "**/*.tmpl", "**/*.yaml"]},
)
