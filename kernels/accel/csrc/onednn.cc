// oneDNN kernels for XLA:CPU: 2-D convolution (NHWC activations, HWIO kernels) and the
// row-major matrix product, float32, as XLA FFI handlers called from kernels/accel/conv.py
// and kernels/accel/gemm.py with jax.ffi.ffi_call:
//
//   mlsandbox_conv_fwd            y  = conv(x, w)             args (x, w),    result y
//   mlsandbox_conv_bias_relu_fwd  y  = relu(conv(x, w) + b)   args (x, w, b), result y
//   mlsandbox_conv_bwd_data       dx = conv_transpose(dy, w)  args (dy, w),   result dx
//   mlsandbox_conv_bwd_weights    dw = corr(x, dy)            args (x, dy),   result dw
//   mlsandbox_matmul              c  = a @ b  (or aT @ b)     args (a, b),    result c
//   mlsandbox_pool_fwd            2x2 max pool                args (x),   results (y, ws)
//   mlsandbox_pool_bwd            its gradient                args (dy, ws),  result dx
//
// Convolution attributes (int64): sh, sw (strides), pt, pb, pl, pr (zero padding: top,
// bottom, left, right).  Shapes come from the buffers: x (n, h, w, c), w (kh, kw, c, o),
// y (n, oh, ow, o).  Matmul attribute ta (int64): 0 for a (m, k), 1 for a stored as its
// transpose (k, m); b (k, n), c (m, n), all row-major.
//
// Activations stay in XLA's NHWC buffers (oneDNN's nhwc tag, no copy).  The kernel is
// handed to oneDNN in the weight layout its primitive asks for (format_tag::any): a
// reorder of a few kilobytes per call, which is what lets oneDNN pick its JIT direct
// kernels (the same ones TensorFlow and PyTorch call) instead of a reference loop.
// Primitives are created once per shape and cached; scratchpads are per calling thread,
// so XLA may run two calls at once.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;
using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

namespace {

dnnl::engine& cpu() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& stream() {
  thread_local dnnl::stream s(cpu());
  return s;
}

void* scratch(size_t bytes) {
  thread_local std::vector<char> buffer;
  if (buffer.size() < bytes) buffer.resize(bytes);
  return buffer.data();
}

struct Geometry {
  int64_t n, h, w, c, kh, kw, o, oh, ow, sh, sw, pt, pb, pl, pr;

  std::string key(char kind) const {
    std::string k(1, kind);
    for (int64_t v : {n, h, w, c, kh, kw, o, oh, ow, sh, sw, pt, pb, pl, pr})
      k += "," + std::to_string(v);
    return k;
  }
  memory::desc src() const { return memory::desc({n, c, h, w}, dt::f32, tag::nhwc); }
  memory::desc dst() const { return memory::desc({n, o, oh, ow}, dt::f32, tag::nhwc); }
  memory::desc hwio() const { return memory::desc({o, c, kh, kw}, dt::f32, tag::hwio); }
  memory::desc any() const { return memory::desc({o, c, kh, kw}, dt::f32, tag::any); }
  memory::dims strides() const { return {sh, sw}; }
  memory::dims pad_lo() const { return {pt, pl}; }
  memory::dims pad_hi() const { return {pb, pr}; }

  static dnnl::primitive_attr attr() {
    dnnl::primitive_attr a;
    a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    return a;
  }
  memory::desc bias() const { return memory::desc({o}, dt::f32, tag::a); }

  // The forward primitive; fused: with a bias and ReLU applied to the sum (a post-op).
  dnnl::convolution_forward::primitive_desc forward(bool fused = false) const {
    dnnl::primitive_attr a = attr();
    if (!fused)
      return dnnl::convolution_forward::primitive_desc(
          cpu(), dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
          src(), any(), dst(), strides(), pad_lo(), pad_hi(), a);
    dnnl::post_ops ops;
    ops.append_eltwise(dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    a.set_post_ops(ops);
    return dnnl::convolution_forward::primitive_desc(
        cpu(), dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
        src(), any(), bias(), dst(), strides(), pad_lo(), pad_hi(), a);
  }
};

// One cached primitive with the reorder between HWIO and the layout it wants.
struct Plan {
  dnnl::primitive prim;
  memory::desc weights;  // the primitive's weight layout
  memory::desc scratchpad;
  dnnl::reorder reorder;  // HWIO -> weights (forward, backward data); weights -> HWIO
  bool reordered;
};

template <class Prim, class PD>
Plan plan(const PD& pd, const memory::desc& weights, const memory::desc& hwio, bool to_hwio) {
  bool reordered = weights != hwio;
  dnnl::reorder r;
  if (reordered)
    r = to_hwio ? dnnl::reorder(memory(weights, cpu()), memory(hwio, cpu()))
                : dnnl::reorder(memory(hwio, cpu()), memory(weights, cpu()));
  return Plan{Prim(pd), weights, pd.scratchpad_desc(), r, reordered};
}

std::mutex cache_mutex;
std::unordered_map<std::string, std::shared_ptr<const Plan>> cache;

template <class Make>
std::shared_ptr<const Plan> cached(const std::string& key, Make make) {
  {
    std::lock_guard<std::mutex> lock(cache_mutex);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
  }
  auto made = std::make_shared<const Plan>(make());  // outside the lock: may take ms
  std::lock_guard<std::mutex> lock(cache_mutex);
  return cache.emplace(key, made).first->second;
}

using Named = std::pair<const ffi::AnyBuffer*, const char*>;

ffi::Error check(const ffi::AnyBuffer& b, const char* name) {
  if (b.element_type() != ffi::DataType::F32)
    return ffi::Error::InvalidArgument(std::string(name) + " must be float32");
  if (b.dimensions().size() != 4)
    return ffi::Error::InvalidArgument(std::string(name) + " must have rank 4");
  return ffi::Error::Success();
}

Geometry geometry(const ffi::AnyBuffer& x, const ffi::AnyBuffer& w, const ffi::AnyBuffer& y,
                  int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr) {
  auto xd = x.dimensions();
  auto wd = w.dimensions();
  auto yd = y.dimensions();
  return Geometry{xd[0], xd[1], xd[2], xd[3], wd[0], wd[1], wd[3], yd[1], yd[2],
                  sh, sw, pt, pb, pl, pr};
}

// Runs `body`, turning oneDNN's exceptions into an XLA error that names the call.
template <class Body>
ffi::Error guarded(const char* what, const Geometry& g, Body body) {
  try {
    body();
    return ffi::Error::Success();
  } catch (const dnnl::error& e) {
    return ffi::Error::Internal(std::string("oneDNN ") + what + " failed for " + g.key(' ') +
                                ": " + e.what());
  }
}

// y = conv(x, w), or with b: y = relu(conv(x, w) + b) in the same pass.
ffi::Error RunForward(const ffi::AnyBuffer& x, const ffi::AnyBuffer& w, const ffi::AnyBuffer* b,
                      ffi::AnyBuffer& y, int64_t sh, int64_t sw, int64_t pt, int64_t pb,
                      int64_t pl, int64_t pr) {
  for (auto [buf, name] : {Named{&x, "x"}, {&w, "w"}, {&y, "y"}})
    if (auto e = check(*buf, name); e.failure()) return e;
  if (b && (b->element_type() != ffi::DataType::F32 || b->dimensions().size() != 1))
    return ffi::Error::InvalidArgument("b must be a float32 vector");
  Geometry g = geometry(x, w, y, sh, sw, pt, pb, pl, pr);
  if (b && b->dimensions()[0] != g.o)
    return ffi::Error::InvalidArgument("b must have one entry per output channel");
  return guarded(b ? "convolution + bias + ReLU" : "convolution forward", g, [&] {
    auto p = cached(g.key(b ? 'r' : 'f'), [&] {
      auto pd = g.forward(b != nullptr);
      return plan<dnnl::convolution_forward>(pd, pd.weights_desc(), g.hwio(), false);
    });
    auto& s = stream();
    memory kernel(g.hwio(), cpu(), w.untyped_data());
    memory weights = p->reordered ? memory(p->weights, cpu()) : kernel;
    if (p->reordered) p->reorder.execute(s, kernel, weights);
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, memory(g.src(), cpu(), x.untyped_data())},
        {DNNL_ARG_WEIGHTS, weights},
        {DNNL_ARG_DST, memory(g.dst(), cpu(), y.untyped_data())},
        {DNNL_ARG_SCRATCHPAD, memory(p->scratchpad, cpu(), scratch(p->scratchpad.get_size()))}};
    if (b) args.emplace(DNNL_ARG_BIAS, memory(g.bias(), cpu(), b->untyped_data()));
    p->prim.execute(s, args);
    s.wait();
  });
}

ffi::Error Forward(ffi::AnyBuffer x, ffi::AnyBuffer w, ffi::Result<ffi::AnyBuffer> y,
                   int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr) {
  return RunForward(x, w, nullptr, *y, sh, sw, pt, pb, pl, pr);
}

ffi::Error ForwardBiasRelu(ffi::AnyBuffer x, ffi::AnyBuffer w, ffi::AnyBuffer b,
                           ffi::Result<ffi::AnyBuffer> y, int64_t sh, int64_t sw, int64_t pt,
                           int64_t pb, int64_t pl, int64_t pr) {
  return RunForward(x, w, &b, *y, sh, sw, pt, pb, pl, pr);
}

ffi::Error BackwardData(ffi::AnyBuffer dy, ffi::AnyBuffer w, ffi::Result<ffi::AnyBuffer> dx,
                        int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl,
                        int64_t pr) {
  for (auto [b, name] : {Named{&dy, "dy"}, {&w, "w"}, {&*dx, "dx"}})
    if (auto e = check(*b, name); e.failure()) return e;
  Geometry g = geometry(*dx, w, dy, sh, sw, pt, pb, pl, pr);
  return guarded("convolution backward (data)", g, [&] {
    auto p = cached(g.key('d'), [&] {
      auto pd = dnnl::convolution_backward_data::primitive_desc(
          cpu(), dnnl::algorithm::convolution_direct, g.src(), g.any(), g.dst(), g.strides(),
          g.pad_lo(), g.pad_hi(), g.forward(), Geometry::attr());
      return plan<dnnl::convolution_backward_data>(pd, pd.weights_desc(), g.hwio(), false);
    });
    auto& s = stream();
    memory kernel(g.hwio(), cpu(), w.untyped_data());
    memory weights = p->reordered ? memory(p->weights, cpu()) : kernel;
    if (p->reordered) p->reorder.execute(s, kernel, weights);
    p->prim.execute(s, {{DNNL_ARG_DIFF_DST, memory(g.dst(), cpu(), dy.untyped_data())},
                        {DNNL_ARG_WEIGHTS, weights},
                        {DNNL_ARG_DIFF_SRC, memory(g.src(), cpu(), dx->untyped_data())},
                        {DNNL_ARG_SCRATCHPAD,
                         memory(p->scratchpad, cpu(), scratch(p->scratchpad.get_size()))}});
    s.wait();
  });
}

ffi::Error BackwardWeights(ffi::AnyBuffer x, ffi::AnyBuffer dy, ffi::Result<ffi::AnyBuffer> dw,
                           int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl,
                           int64_t pr) {
  for (auto [b, name] : {Named{&x, "x"}, {&dy, "dy"}, {&*dw, "dw"}})
    if (auto e = check(*b, name); e.failure()) return e;
  Geometry g = geometry(x, *dw, dy, sh, sw, pt, pb, pl, pr);
  return guarded("convolution backward (weights)", g, [&] {
    auto p = cached(g.key('w'), [&] {
      auto pd = dnnl::convolution_backward_weights::primitive_desc(
          cpu(), dnnl::algorithm::convolution_direct, g.src(), g.any(), g.dst(), g.strides(),
          g.pad_lo(), g.pad_hi(), g.forward(), Geometry::attr());
      return plan<dnnl::convolution_backward_weights>(pd, pd.diff_weights_desc(), g.hwio(), true);
    });
    auto& s = stream();
    memory kernel(g.hwio(), cpu(), dw->untyped_data());
    memory weights = p->reordered ? memory(p->weights, cpu()) : kernel;
    p->prim.execute(s, {{DNNL_ARG_SRC, memory(g.src(), cpu(), x.untyped_data())},
                        {DNNL_ARG_DIFF_DST, memory(g.dst(), cpu(), dy.untyped_data())},
                        {DNNL_ARG_DIFF_WEIGHTS, weights},
                        {DNNL_ARG_SCRATCHPAD,
                         memory(p->scratchpad, cpu(), scratch(p->scratchpad.get_size()))}});
    if (p->reordered) p->reorder.execute(s, weights, kernel);
    s.wait();
  });
}

ffi::Error Matmul(ffi::AnyBuffer a, ffi::AnyBuffer b, ffi::Result<ffi::AnyBuffer> c,
                  int64_t ta) {
  for (auto [buf, name] : {Named{&a, "a"}, {&b, "b"}, {&*c, "c"}})
    if (buf->element_type() != ffi::DataType::F32 || buf->dimensions().size() != 2)
      return ffi::Error::InvalidArgument(std::string(name) + " must be a float32 matrix");
  int64_t m = c->dimensions()[0], n = c->dimensions()[1], k = b.dimensions()[0];
  auto ad = a.dimensions();
  if ((ta ? ad[1] : ad[0]) != m || (ta ? ad[0] : ad[1]) != k || b.dimensions()[1] != n)
    return ffi::Error::InvalidArgument("matmul: shapes of a, b and c do not agree");
  memory::desc src({m, k}, dt::f32, ta ? tag::ba : tag::ab);
  memory::desc wei({k, n}, dt::f32, tag::ab);
  memory::desc dst({m, n}, dt::f32, tag::ab);
  std::string key = "m," + std::to_string(m) + "," + std::to_string(k) + "," +
                    std::to_string(n) + "," + std::to_string(ta);
  try {
    auto p = cached(key, [&] {
      auto pd = dnnl::matmul::primitive_desc(cpu(), src, wei, dst, Geometry::attr());
      return Plan{dnnl::matmul(pd), wei, pd.scratchpad_desc(), dnnl::reorder(), false};
    });
    auto& s = stream();
    p->prim.execute(s, {{DNNL_ARG_SRC, memory(src, cpu(), a.untyped_data())},
                        {DNNL_ARG_WEIGHTS, memory(wei, cpu(), b.untyped_data())},
                        {DNNL_ARG_DST, memory(dst, cpu(), c->untyped_data())},
                        {DNNL_ARG_SCRATCHPAD,
                         memory(p->scratchpad, cpu(), scratch(p->scratchpad.get_size()))}});
    s.wait();
  } catch (const dnnl::error& e) {
    return ffi::Error::Internal("oneDNN matmul failed for " + key + ": " + e.what());
  }
  return ffi::Error::Success();
}

// 2x2 / stride-2 'valid' max pooling, NHWC.  The forward also returns oneDNN's workspace
// (the position of each window's maximum: the first one in row-major order, as the
// reference's tie rule), one uint8 per output element, which the backward reads.
struct PoolGeometry {
  int64_t n, h, w, c, oh, ow;
  std::string key(char kind) const {
    std::string k(1, kind);
    for (int64_t v : {n, h, w, c, oh, ow}) k += "," + std::to_string(v);
    return k;
  }
  memory::desc src() const { return memory::desc({n, c, h, w}, dt::f32, tag::nhwc); }
  memory::desc dst() const { return memory::desc({n, c, oh, ow}, dt::f32, tag::nhwc); }
  // 'valid' pooling of an odd side drops the last row/column: a negative right padding
  memory::dims pad_hi() const { return {2 * oh - h, 2 * ow - w}; }
  dnnl::pooling_forward::primitive_desc forward() const {
    return dnnl::pooling_forward::primitive_desc(
        cpu(), dnnl::prop_kind::forward_training, dnnl::algorithm::pooling_max, src(), dst(),
        {2, 2}, {2, 2}, {0, 0}, {0, 0}, pad_hi(), Geometry::attr());
  }
};

ffi::Error CheckPool(const PoolGeometry& g, const ffi::AnyBuffer& ws,
                     const memory::desc& wanted) {
  if (ws.element_type() != ffi::DataType::U8 ||
      ws.size_bytes() != wanted.get_size())
    return ffi::Error::Internal("oneDNN's pooling workspace for " + g.key(' ') + " is " +
                                std::to_string(wanted.get_size()) +
                                " bytes, not one uint8 per output element");
  return ffi::Error::Success();
}

ffi::Error PoolForward(ffi::AnyBuffer x, ffi::Result<ffi::AnyBuffer> y,
                       ffi::Result<ffi::AnyBuffer> ws) {
  for (auto [buf, name] : {Named{&x, "x"}, {&*y, "y"}})
    if (auto e = check(*buf, name); e.failure()) return e;
  auto xd = x.dimensions();
  auto yd = y->dimensions();
  PoolGeometry g{xd[0], xd[1], xd[2], xd[3], yd[1], yd[2]};
  try {
    auto p = cached(g.key('p'), [&] {
      auto pd = g.forward();
      return Plan{dnnl::pooling_forward(pd), pd.workspace_desc(), pd.scratchpad_desc(),
                  dnnl::reorder(), false};
    });
    if (auto e = CheckPool(g, *ws, p->weights); e.failure()) return e;
    auto& s = stream();
    p->prim.execute(s, {{DNNL_ARG_SRC, memory(g.src(), cpu(), x.untyped_data())},
                        {DNNL_ARG_DST, memory(g.dst(), cpu(), y->untyped_data())},
                        {DNNL_ARG_WORKSPACE, memory(p->weights, cpu(), ws->untyped_data())},
                        {DNNL_ARG_SCRATCHPAD,
                         memory(p->scratchpad, cpu(), scratch(p->scratchpad.get_size()))}});
    s.wait();
  } catch (const dnnl::error& e) {
    return ffi::Error::Internal("oneDNN max pooling failed for " + g.key(' ') + ": " +
                                e.what());
  }
  return ffi::Error::Success();
}

ffi::Error PoolBackward(ffi::AnyBuffer dy, ffi::AnyBuffer ws, ffi::Result<ffi::AnyBuffer> dx) {
  for (auto [buf, name] : {Named{&dy, "dy"}, {&*dx, "dx"}})
    if (auto e = check(*buf, name); e.failure()) return e;
  auto xd = dx->dimensions();
  auto yd = dy.dimensions();
  PoolGeometry g{xd[0], xd[1], xd[2], xd[3], yd[1], yd[2]};
  try {
    auto p = cached(g.key('q'), [&] {
      auto fwd = g.forward();
      auto pd = dnnl::pooling_backward::primitive_desc(
          cpu(), dnnl::algorithm::pooling_max, g.src(), g.dst(), {2, 2}, {2, 2}, {0, 0},
          {0, 0}, g.pad_hi(), fwd, Geometry::attr());
      return Plan{dnnl::pooling_backward(pd), fwd.workspace_desc(), pd.scratchpad_desc(),
                  dnnl::reorder(), false};
    });
    if (auto e = CheckPool(g, ws, p->weights); e.failure()) return e;
    auto& s = stream();
    p->prim.execute(s, {{DNNL_ARG_DIFF_DST, memory(g.dst(), cpu(), dy.untyped_data())},
                        {DNNL_ARG_WORKSPACE, memory(p->weights, cpu(), ws.untyped_data())},
                        {DNNL_ARG_DIFF_SRC, memory(g.src(), cpu(), dx->untyped_data())},
                        {DNNL_ARG_SCRATCHPAD,
                         memory(p->scratchpad, cpu(), scratch(p->scratchpad.get_size()))}});
    s.wait();
  } catch (const dnnl::error& e) {
    return ffi::Error::Internal("oneDNN max pooling backward failed for " + g.key(' ') +
                                ": " + e.what());
  }
  return ffi::Error::Success();
}

}  // namespace

// The oneDNN implementation a call of this geometry runs (e.g. "jit:avx512_core"), for
// tests and the benchmarks' extra_info.  kind: 'f' forward, 'd' backward data, 'w'
// backward weights; g15: n, h, w, c, kh, kw, o, oh, ow, sh, sw, pt, pb, pl, pr.  Writes a
// NUL-terminated string of at most size - 1 characters to out; returns its length.

extern "C" int mlsandbox_conv_impl(char kind, const int64_t* g15, char* out, int size) {
  Geometry g{g15[0], g15[1], g15[2],  g15[3],  g15[4],  g15[5],  g15[6], g15[7],
             g15[8], g15[9], g15[10], g15[11], g15[12], g15[13], g15[14]};
  std::string info;
  try {
    if (kind == 'f') {
      info = g.forward().impl_info_str();
    } else if (kind == 'd') {
      info = dnnl::convolution_backward_data::primitive_desc(
                 cpu(), dnnl::algorithm::convolution_direct, g.src(), g.any(), g.dst(),
                 g.strides(), g.pad_lo(), g.pad_hi(), g.forward(), Geometry::attr())
                 .impl_info_str();
    } else {
      info = dnnl::convolution_backward_weights::primitive_desc(
                 cpu(), dnnl::algorithm::convolution_direct, g.src(), g.any(), g.dst(),
                 g.strides(), g.pad_lo(), g.pad_hi(), g.forward(), Geometry::attr())
                 .impl_info_str();
    }
  } catch (const dnnl::error& e) {
    info = std::string("error: ") + e.what();
  }
  int n = static_cast<int>(info.size()) < size - 1 ? static_cast<int>(info.size()) : size - 1;
  info.copy(out, n);
  out[n] = '\0';
  return n;
}

#define MLSANDBOX_CONV_ATTRS                                                 \
  .Attr<int64_t>("sh").Attr<int64_t>("sw").Attr<int64_t>("pt").Attr<int64_t>("pb") \
      .Attr<int64_t>("pl").Attr<int64_t>("pr")

XLA_FFI_DEFINE_HANDLER_SYMBOL(mlsandbox_conv_fwd, Forward,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>() MLSANDBOX_CONV_ATTRS);
XLA_FFI_DEFINE_HANDLER_SYMBOL(mlsandbox_conv_bias_relu_fwd, ForwardBiasRelu,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>() MLSANDBOX_CONV_ATTRS);
XLA_FFI_DEFINE_HANDLER_SYMBOL(mlsandbox_conv_bwd_data, BackwardData,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>() MLSANDBOX_CONV_ATTRS);
XLA_FFI_DEFINE_HANDLER_SYMBOL(mlsandbox_conv_bwd_weights, BackwardWeights,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>() MLSANDBOX_CONV_ATTRS);
XLA_FFI_DEFINE_HANDLER_SYMBOL(mlsandbox_matmul, Matmul,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Attr<int64_t>("ta"));
XLA_FFI_DEFINE_HANDLER_SYMBOL(mlsandbox_pool_fwd, PoolForward,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>());
XLA_FFI_DEFINE_HANDLER_SYMBOL(mlsandbox_pool_bwd, PoolBackward,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>());
