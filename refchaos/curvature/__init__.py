"""Derivatives of the loss in theta: gradient, Hessian-vector products, exact Hessian, spectra."""

from .backprop import forward_pass, grad, loss_and_grad, vjp
from .factored import factored_hvp, tangent_apply
from .hessian import hessian
from .lanczos import lanczos_spectrum
from .range import range_spectrum
from .rop import grad_and_hvp, hvp, jvp
from .spectrum import dense_spectrum, spectrum
from .blocks import HessianBlock, block_spectra, hessian_blocks
from .density import all_eigenvalues, hessian_density, spectral_density
from .diag import ggn_diag, hessian_diag, hessian_trace
from .ggn import ggn, ggn_vp

__all__ = ["forward_pass", "grad", "loss_and_grad", "vjp", "hessian", "hvp", "grad_and_hvp", "jvp",
           "spectrum", "dense_spectrum", "range_spectrum", "lanczos_spectrum", "factored_hvp",
           "tangent_apply", "hessian_diag", "hessian_trace", "ggn_diag", "ggn", "ggn_vp",
           "hessian_blocks", "block_spectra", "HessianBlock", "spectral_density", "hessian_density",
           "all_eigenvalues"]
