"""scikit-learn style parameter handling, without depending on scikit-learn."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import Self


class ParamsMixin:
    """``get_params``/``set_params``/``repr`` from the constructor's signature.

    Subclasses store every constructor argument unchanged under its own name and do all
    validation in ``fit``, so ``sklearn.base.clone`` and grid searches work.
    """

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind != p.VAR_KEYWORD]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters of this estimator, by name.

        Examples
        --------
        >>> from fastmf import MatrixFactorization
        >>> MatrixFactorization(16, solver="als").get_params()["solver"]
        'als'
        """
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Self:
        """Set constructor parameters by name; returns self.

        Examples
        --------
        >>> from fastmf import MatrixFactorization
        >>> MatrixFactorization().set_params(factors=64, l2=0.05)
        MatrixFactorization(factors=64, l2=0.05)
        """
        valid = set(self._param_names())
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"invalid parameter {name!r} for {type(self).__name__}; "
                    f"valid parameters: {sorted(valid)}"
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()
        }
        changed = []
        for name, value in self.get_params().items():
            default = defaults.get(name, inspect.Parameter.empty)
            try:
                same = value is default or bool(value == default)
            except Exception:
                same = False
            if not same:
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"
