"""implicit-bias-lab: simulate and check what SGD and Adam implicitly prefer near a manifold of minimizers.

The lab's packages live in the repository's top-level folders (``models/``, ``sde/``,
``experiments/``, ``figures/``, ``paper_checks/``) and are imported under this one name::

    from implicit_bias_lab.models import DiagonalNet
    from implicit_bias_lab.sde import integrate_slow_flow

so they never collide with a user's own modules called ``models`` or ``sde``. An installed wheel
holds them inside this package (``pyproject.toml`` maps the folders); in a source checkout or an
editable install the repository root is added to this package's search path below.

Importing the lab does not change JAX's global settings. The theory's Hessians, projections and
flows need float64: turn it on with :func:`implicit_bias_lab.precision.enable_x64` (the ``ibl``
CLI and every experiment's ``run`` do); the functions that need it check and say so.
"""

from pathlib import Path as _Path

_ROOT = _Path(__file__).resolve().parent.parent
if not (_Path(__file__).resolve().parent / "sde").is_dir() and (_ROOT / "sde" / "__init__.py").is_file():
    __path__.append(str(_ROOT))  # source checkout: the subpackages are the repository's folders

from implicit_bias_lab.precision import enable_x64, require_x64  # noqa: E402

__all__ = ["enable_x64", "require_x64"]
