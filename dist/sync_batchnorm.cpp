#include "adgraph/dist/sync_batchnorm.h"

#include "adgraph/autodiff/function.h"

namespace ad::dist {
namespace {

// y = sum_r x_r on every rank. Backward: each rank's loss depends on y, so
// dL/dx_r = sum_q dL_q/dy: the allreduce of the gradient (itself, so create_graph works).
struct AllReduceSum : ad::Function<AllReduceSum> {
  static const char* name() { return "dist::all_reduce_sum"; }
  static ad::Tensor forward(ad::AutogradContext& ctx, const ad::Tensor& x, ProcessGroup* pg) {
    ctx.saved_data["pg"] = pg;
    ad::Tensor y = x.clone();         // contiguous
    pg->allreduce(y, ReduceOp::Sum);  // checks that every rank reduces the same shape
    return y;
  }
  static ad::GradList backward(ad::AutogradContext& ctx, const ad::GradList& grads) {
    ProcessGroup* pg = ctx.saved_data["pg"].to<ProcessGroup*>();
    return {AllReduceSum::apply(grads[0], pg)};
  }
};

}  // namespace

ad::Tensor all_reduce_sum(const ad::Tensor& x, ProcessGroup& pg) {
  if (!x.defined()) throw ad::Error("dist::all_reduce_sum: the tensor is undefined");
  return AllReduceSum::apply(x, &pg);
}

SyncBatchNorm::SyncBatchNorm(std::int64_t num_features, ProcessGroup& pg, const ad::nn::BatchNormOptions& opt,
                             ad::Dtype dtype)
    : ad::nn::BatchNorm(num_features, opt, dtype, "SyncBatchNorm", 2, 64), pg_(pg) {}

ad::Tensor sync_batch_norm(const ad::Tensor& x, const ad::Tensor& running_mean, const ad::Tensor& running_var,
                           const ad::Tensor& weight, const ad::Tensor& bias, bool training, double momentum, double eps,
                           ProcessGroup& pg) {
  if (!training || !x.defined() || x.dim() < 2)  // batch_norm's own checks and errors
    return ad::batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps);
  const std::int64_t channels = x.size(1);
  for (const ad::Tensor* t : {&running_mean, &running_var, &weight, &bias})
    if (t->defined() && (t->shape() != ad::Shape{channels} || t->dtype() != x.dtype()))
      throw ad::Error("sync_batch_norm: weight, bias and the running statistics must be [" + std::to_string(channels) +
                      "] " + ad::dtype_name(x.dtype()) + " for an input of shape " + ad::shape_str(x.shape()) +
                      ", got " + ad::shape_str(t->shape()) + " " + ad::dtype_name(t->dtype()));
  if (!ad::is_floating(x.dtype()))
    throw ad::Error(std::string("sync_batch_norm: the input must be Float32 or Float64, got ") +
                    ad::dtype_name(x.dtype()));
  // Every rank's count (collective): a rank with an empty batch is an error on every rank.
  const ad::Tensor counts = pg.allgather(ad::index_tensor({channels ? x.numel() / channels : 0}, {1})).contiguous();
  std::int64_t n = 0;
  std::string empty;
  for (int r = 0; r < pg.world_size(); ++r) {
    const std::int64_t c = counts.data_ptr<std::int64_t>()[r];
    if (c == 0) empty += (empty.empty() ? "" : ", ") + std::to_string(r);
    n += c;
  }
  if (!empty.empty())
    throw ad::Error("sync_batch_norm: rank(s) " + empty + " have no samples (input shape " + ad::shape_str(x.shape()) +
                    " here); give every rank at least one sample, e.g. "
                    "DistributedSampler with drop_last");
  if (n <= 1)
    throw ad::Error("sync_batch_norm: training needs more than one value per channel over all ranks, got " +
                    std::to_string(n) + " (input shape " + ad::shape_str(x.shape()) + ")");
  ad::Dims dims = {0};
  for (std::int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  ad::Shape view(static_cast<std::size_t>(x.dim()), 1);  // [1, C, 1, ...]
  view[1] = channels;
  const double inv_n = 1.0 / static_cast<double>(n);
  // mean = (sum over ranks of sum x) / n; var = (sum over ranks of sum (x - mean)^2) / n
  const ad::Tensor mean = all_reduce_sum(ad::sum(x, dims), pg) * inv_n;
  const ad::Tensor d = x - mean.reshape(view);
  const ad::Tensor var = all_reduce_sum(ad::sum(d * d, dims), pg) * inv_n;
  ad::Tensor y = d / ad::sqrt(var + eps).reshape(view);
  if (weight.defined()) y = y * weight.reshape(view);
  if (bias.defined()) y = y + bias.reshape(view);
  if (running_mean.defined() && running_var.defined()) {
    ad::NoGradGuard no_grad;
    const double unbias = static_cast<double>(n) / static_cast<double>(n - 1);
    ad::Tensor rm = running_mean, rv = running_var;  // handles: the updates are in place
    rm.mul_(1.0 - momentum).add_(mean.detach(), momentum);
    rv.mul_(1.0 - momentum).add_(var.detach() * unbias, momentum);
  }
  return y;
}

ad::Tensor SyncBatchNorm::normalize(const ad::Tensor& x, const ad::Tensor& running_mean, const ad::Tensor& running_var,
                                    bool training, double momentum, double eps) {
  return sync_batch_norm(x, running_mean, running_var, weight(), bias(), training, momentum, eps, pg_);
}

std::string SyncBatchNorm::extra_repr() const {
  return ad::nn::BatchNorm::extra_repr() + ", world_size=" + std::to_string(pg_.world_size());
}

}  // namespace ad::dist
