// Front-end of memory_bank_update: checks, then the fused update kernel of the bank's device.
#include "losses/memory_bank.h"

#include <cmath>

#include "engine/dispatch.h"
#include "engine/ops/common.h"
#include "losses/infonce_kernels.h"

namespace fovea {

void memory_bank_update(const Tensor& bank, const Tensor& indices, const Tensor& values, double momentum,
                        bool renormalize) {
  FOVEA_NVTX_RANGE("memory_bank_update");
  const char* op = "memory_bank_update";
  check_defined(bank, op, "bank");
  check_defined(indices, op, "indices");
  check_defined(values, op, "values");
  check_same_device(bank, indices, op);
  check_same_device(bank, values, op);
  check_floating(bank, op, "bank");
  check_index_dtype(indices, op, "indices");
  FOVEA_CHECK(bank.dim() == 2, op, "bank must be [M, D], got shape ", shape_str(bank.shape()));
  FOVEA_CHECK(bank.is_contiguous(), op, "bank of shape ", shape_str(bank.shape()),
              " is not contiguous; it is updated in place, so create it contiguous (e.g. with .contiguous() once)");
  FOVEA_CHECK(!bank.requires_grad(), op,
              "bank requires grad; a memory bank is a buffer updated without autograd: create it with requires_grad "
              "off or pass bank.detach()");
  FOVEA_CHECK(values.dtype() == bank.dtype(), op, "values are ", dtype_name(values.dtype()), " but the bank is ",
              dtype_name(bank.dtype()), "; convert the values with .to(dtype)");
  FOVEA_CHECK(indices.dim() == 1, op, "indices must be [N], got shape ", shape_str(indices.shape()));
  const Shape expected{indices.size(0), bank.size(1)};
  FOVEA_CHECK(values.shape() == expected, op, "values of shape ", shape_str(values.shape()), " do not match ",
              indices.size(0), " indices into a bank of shape ", shape_str(bank.shape()), ": expected ",
              shape_str(expected));
  FOVEA_CHECK(momentum >= 0 && momentum <= 1, op, "momentum must lie in [0, 1] (it weights the old row), got ",
              momentum);

  const Tensor idx = indices.contiguous();
  Tensor v = values.detach().contiguous();
  if (&v.storage() == &bank.storage()) v = v.clone();
  check_gather_inputs(op, idx, bank, {{"values", v}});
  FOVEA_ON_DEVICE(bank.device(), bank_momentum_update, bank, idx, v, momentum, renormalize);
  bank.storage().bump_version();
}

}  // namespace fovea
