"""BERT, NumPy reference: the encoder, the pooler, the masked-LM and classifier heads, the
whole backward pass by hand from the kernels.

Notation: n sequences of T tokens, hidden H, h heads of dh = H/h features, intermediate I,
vocab V.  A dense layer in Hugging Face's layout is ``lin(x; W, b) = x Wᵀ + b`` with W
(out, in); it is :func:`kernels.dense.dense_forward` on ``x`` flattened to (n·T, in) with
the kernel ``Wᵀ``, and its backward gives ``dx = dy W``, ``dW = (xᵀ dy)ᵀ = dyᵀ x``,
``db = Σ dy``.  ``LN`` is :func:`kernels.transformer.layernorm_forward` with
``eps = layer_norm_eps``; ``drop_m(x) = x·m/(1-rate)`` with the layer's 0/1 mask (the
identity in eval mode); ``GELU`` is exact (erf).

Forward::

    E   = Word[ids] + Type[tt] + Pos[0..T-1]                       (n, T, H)
    X₀  = drop(LN_emb(E))
    layer l (X = X_{l-1}):
        Q, K, Vv = split(lin(X; Wq, bq)), split(...Wk...), split(...Wv...)   (n, h, T, dh)
        S   = Q Kᵀ · dh^(-1/2) + B          B = 0 at kept keys, finfo.min at padded keys
        P   = softmax(S) over the keys;  Pd = drop_att(P)              (n, h, T, T)
        C   = merge(Pd Vv)                                               (n, T, H)
        Y   = LN_att(drop(lin(C; Wo, bo)) + X)
        X_l = LN_out(drop(lin(GELU(lin(Y; W1, b1)); W2, b2)) + Y)
    last_hidden_state = X_L
    bert_mlm:  Z = LN_head(GELU(lin(X_L; Wt, bt)));  logits = Z Wordᵀ + bias      (n, T, V)
    bert_cls:  pooled = tanh(lin(X_L[:, 0]; Wp, bp));  logits = lin(drop(pooled); Wc, bc)

Backward, each line one kernel's backward in reverse order (g_X is dL/dX):

* heads: mlm: ``g_Z, dWord_dec, dbias = lin⁻¹(g_logits)``, then LN_head, GELU and the
  transform's lin backward give ``g_{X_L}``.  cls: ``lin⁻¹`` of the classifier, dropout,
  ``tanh' = 1 - pooled²``, the pooler's ``lin⁻¹``; ``g_{X_L}`` is that gradient at
  position 0 and 0 elsewhere.
* layer l, from ``g_{X_l}``: ``LN_out⁻¹`` gives ``g_R`` for the residual sum
  ``R = drop(F) + Y``; ``g_Y = g_R + lin⁻¹(GELU⁻¹(lin⁻¹(drop⁻¹(g_R))))`` (the residual
  adds the branch); then ``LN_att⁻¹`` gives ``g_R'``, and ``g_X = g_R' + (the attention
  branch)``: ``g_C`` from ``lin⁻¹(drop⁻¹(g_R'))``, split into heads,
  ``g_Vv = Pdᵀ g_Ctx``, ``g_Pd = g_Ctx Vvᵀ``, ``g_P = drop⁻¹(g_Pd)``,
  ``g_S = P ⊙ (g_P - Σ_keys g_P ⊙ P)`` (:func:`kernels.activations.softmax_backward`; the
  mask B is a constant), ``g_Q = g_S K · dh^(-1/2)``, ``g_K = g_Sᵀ Q · dh^(-1/2)``, each
  merged and through its ``lin⁻¹``; the three input gradients add up.
* embeddings: ``LN_emb⁻¹(drop⁻¹(g_{X₀}))`` is ``g_E``; each table gets the scatter-add of
  ``g_E`` over its ids (:func:`kernels.embedding.embedding_backward`), the word table with
  row ``pad_token_id`` zeroed (torch's ``padding_idx``), the position table summed over
  the batch into rows 0..T-1.
* tied weights (bert_mlm): the word table is also the decoder, so its gradient is the
  lookup's plus ``dWord_dec`` (with no zeroed row); ``cls.predictions.bias`` gets the
  decoder's bias gradient.  The copies ``cls.predictions.decoder.*`` are read nowhere here:
  the forward uses the sources.

The attention is composed of the softmax and dropout kernels (dropout sits between the
softmax and ``P V``); without a mask it equals :func:`kernels.transformer.attention_forward`
(``tests/test_bert.py`` checks).
"""

from __future__ import annotations

import numpy as np

from kernels.activations import softmax_backward, softmax_forward, tanh_backward, tanh_forward
from kernels.dense import dense_backward, dense_forward
from kernels.dropout import dropout_backward, dropout_forward
from kernels.embedding import embedding_backward, embedding_forward
from kernels.transformer import (attention_mask_bias, gelu_backward, gelu_forward,
                                 layernorm_backward, layernorm_forward, merge_heads_backward,
                                 merge_heads_forward, split_heads_backward, split_heads_forward)
from models.adapters.numpy_adapter import NumpyNetwork
from models.bert.common import BertOutputs


# -- dense layers in torch's layout ---------------------------------------------------------
def linear_forward(x, weight, bias):
    """``x Wᵀ + b`` for x (..., in), W (out, in): :func:`dense_forward` on the rows."""
    y, cache = dense_forward(x.reshape(-1, x.shape[-1]), weight.T, bias)
    return y.reshape(*x.shape[:-1], weight.shape[0]), (cache, x.shape)


def linear_backward(dy, cache):
    """``(dx, dW, db)`` of :func:`linear_forward`, ``dW`` (out, in) like W."""
    c, shape = cache
    dx, dk, db = dense_backward(dy.reshape(-1, dy.shape[-1]), c)
    return dx.reshape(shape), np.ascontiguousarray(dk.T), db


class Network(BertOutputs, NumpyNetwork):
    # -- the pieces ------------------------------------------------------------------------
    def _mask(self, masks, name):
        return masks.get(name) if masks else None

    def _rate(self, name):
        return self.spec.dropout().get(name, 0.0)

    def _drop(self, x, masks, name):
        return dropout_forward(x, self._mask(masks, name), self._rate(name))

    def attention_forward(self, params, x, bias, masks, p):
        """Self-attention of layer prefix ``p`` on x (n, T, H) with the additive key mask
        ``bias`` (n, 1, 1, T): the merged context (n, T, H) and the cache."""
        s = self.spec
        proj = {}
        for m in ("query", "key", "value"):
            y, c = linear_forward(x, params[f"{p}attention.self.{m}.weight"],
                                  params[f"{p}attention.self.{m}.bias"])
            yh, c_split = split_heads_forward(y, s.num_attention_heads)   # (n, h, T, dh)
            proj[m] = (yh, c)
        (q, cq), (k, ck), (v, cv) = proj["query"], proj["key"], proj["value"]
        scale = np.asarray(s.head_size ** -0.5, x.dtype)
        scores = (q @ np.swapaxes(k, -1, -2)) * scale + bias          # (n, h, T, T)
        probs, c_soft = softmax_forward(scores)
        dropped, c_drop = self._drop(probs, masks, p + "attention.self.dropout")
        ctx, c_merge = merge_heads_forward(dropped @ v)               # (n, T, H)
        return ctx, (q, k, v, dropped, scale, (cq, ck, cv), c_split, c_soft, c_drop, c_merge)

    def attention_backward(self, dctx, cache):
        """``(dx, {name: grad})`` of :meth:`attention_forward` (dx summed over q, k, v)."""
        q, k, v, dropped, scale, lin_caches, split_cache, c_soft, c_drop, c_merge = cache
        dc = merge_heads_backward(dctx, c_merge)                      # (n, h, T, dh)
        dv = np.swapaxes(dropped, -1, -2) @ dc
        dprobs = dropout_backward(dc @ np.swapaxes(v, -1, -2), c_drop)
        dscores = softmax_backward(dprobs, c_soft)
        dq = (dscores @ k) * scale
        dk = (np.swapaxes(dscores, -1, -2) @ q) * scale
        dx, grads = 0.0, {}
        for m, dh, c in zip(("query", "key", "value"), (dq, dk, dv), lin_caches):
            dxi, dw, db = linear_backward(split_heads_backward(dh, split_cache), c)
            dx = dx + dxi
            grads[f"attention.self.{m}.weight"], grads[f"attention.self.{m}.bias"] = dw, db
        return dx, grads

    def layer_forward(self, params, x, bias, masks, i):
        s, p = self.spec, self.spec.layer_prefix(i)
        eps = s.layer_norm_eps
        ctx, c_att = self.attention_forward(params, x, bias, masks, p)
        a, c_ao = linear_forward(ctx, params[p + "attention.output.dense.weight"],
                                 params[p + "attention.output.dense.bias"])
        a, c_ad = self._drop(a, masks, p + "attention.output.dropout")
        y, c_aln = layernorm_forward(a + x, params[p + "attention.output.LayerNorm.weight"],
                                     params[p + "attention.output.LayerNorm.bias"], eps=eps)
        f, c_i = linear_forward(y, params[p + "intermediate.dense.weight"],
                                params[p + "intermediate.dense.bias"])
        f, c_gelu = gelu_forward(f)
        g, c_o = linear_forward(f, params[p + "output.dense.weight"],
                                params[p + "output.dense.bias"])
        g, c_od = self._drop(g, masks, p + "output.dropout")
        out, c_oln = layernorm_forward(g + y, params[p + "output.LayerNorm.weight"],
                                       params[p + "output.LayerNorm.bias"], eps=eps)
        return out, (c_att, c_ao, c_ad, c_aln, c_i, c_gelu, c_o, c_od, c_oln)

    def layer_backward(self, dout, cache, i):
        p = self.spec.layer_prefix(i)
        c_att, c_ao, c_ad, c_aln, c_i, c_gelu, c_o, c_od, c_oln = cache
        g = {}
        dr, g["output.LayerNorm.weight"], g["output.LayerNorm.bias"] = \
            layernorm_backward(dout, c_oln)
        df, g["output.dense.weight"], g["output.dense.bias"] = \
            linear_backward(dropout_backward(dr, c_od), c_o)
        dy, g["intermediate.dense.weight"], g["intermediate.dense.bias"] = \
            linear_backward(gelu_backward(df, c_gelu), c_i)
        dy = dy + dr                                                  # the residual
        dr2, g["attention.output.LayerNorm.weight"], g["attention.output.LayerNorm.bias"] = \
            layernorm_backward(dy, c_aln)
        dctx, g["attention.output.dense.weight"], g["attention.output.dense.bias"] = \
            linear_backward(dropout_backward(dr2, c_ad), c_ao)
        dx, g_att = self.attention_backward(dctx, c_att)
        g.update(g_att)
        return dx + dr2, {p + k: v for k, v in g.items()}

    def encoder_forward(self, params, input_ids, attention_mask, token_type_ids, masks=None):
        """``(last_hidden_state, cache)`` (n, T, H)."""
        s = self.spec
        e = "bert.embeddings."
        n, T = input_ids.shape
        word, c_w = embedding_forward(input_ids, params[e + "word_embeddings.weight"],
                                      padding_idx=s.pad_token_id)
        types, c_t = embedding_forward(token_type_ids, params[e + "token_type_embeddings.weight"])
        positions = np.broadcast_to(np.arange(T), (n, T))
        pos, c_p = embedding_forward(positions, params[e + "position_embeddings.weight"])
        x, c_ln = layernorm_forward(word + types + pos, params[e + "LayerNorm.weight"],
                                    params[e + "LayerNorm.bias"], eps=s.layer_norm_eps)
        x, c_d = self._drop(x, masks, e + "dropout")
        bias = attention_mask_bias(attention_mask, x.dtype)           # (n, 1, 1, T)
        layers = []
        for i in range(s.num_hidden_layers):
            x, c = self.layer_forward(params, x, bias, masks, i)
            layers.append(c)
        return x, (c_w, c_t, c_p, c_ln, c_d, layers)

    def encoder_backward(self, dx, cache):
        """Gradients of every ``bert.embeddings.*`` / ``bert.encoder.*`` parameter."""
        c_w, c_t, c_p, c_ln, c_d, layers = cache
        grads = {}
        for i in reversed(range(len(layers))):
            dx, g = self.layer_backward(dx, layers[i], i)
            grads.update(g)
        e = "bert.embeddings."
        de, grads[e + "LayerNorm.weight"], grads[e + "LayerNorm.bias"] = \
            layernorm_backward(dropout_backward(dx, c_d), c_ln)
        grads[e + "word_embeddings.weight"] = embedding_backward(de, c_w)
        grads[e + "token_type_embeddings.weight"] = embedding_backward(de, c_t)
        grads[e + "position_embeddings.weight"] = embedding_backward(de, c_p)
        return grads

    def pooler_forward(self, params, h):
        z, c_lin = linear_forward(h[:, 0], params["bert.pooler.dense.weight"],
                                  params["bert.pooler.dense.bias"])
        pooled, c_tanh = tanh_forward(z)
        return pooled, (c_lin, c_tanh, h.shape)

    def pooler_backward(self, dpooled, cache):
        c_lin, c_tanh, shape = cache
        dfirst, dw, db = linear_backward(tanh_backward(dpooled, c_tanh), c_lin)
        dh = np.zeros(shape, dfirst.dtype)
        dh[:, 0] = dfirst
        return dh, {"bert.pooler.dense.weight": dw, "bert.pooler.dense.bias": db}

    # -- the contract ---------------------------------------------------------------------
    def forward_cache(self, params, input_ids, attention_mask, token_type_ids, *,
                      train=False, masks=None):
        masks = masks if train else None
        h, c_enc = self.encoder_forward(params, input_ids, attention_mask, token_type_ids, masks)
        if self.spec.head == "mlm":
            t = "cls.predictions.transform."
            z, c_t = linear_forward(h, params[t + "dense.weight"], params[t + "dense.bias"])
            z, c_gelu = gelu_forward(z)
            z, c_ln = layernorm_forward(z, params[t + "LayerNorm.weight"],
                                        params[t + "LayerNorm.bias"],
                                        eps=self.spec.layer_norm_eps)
            logits, c_dec = linear_forward(z, params["bert.embeddings.word_embeddings.weight"],
                                           params["cls.predictions.bias"])
            return logits, (c_enc, (c_t, c_gelu, c_ln, c_dec))
        pooled, c_pool = self.pooler_forward(params, h)
        d, c_drop = self._drop(pooled, masks, "dropout")
        logits, c_cls = linear_forward(d, params["classifier.weight"], params["classifier.bias"])
        return logits, (c_enc, (c_pool, c_drop, c_cls))

    def backward(self, dlogits, cache):
        c_enc, c_head = cache
        if self.spec.head == "mlm":
            c_t, c_gelu, c_ln, c_dec = c_head
            t = "cls.predictions.transform."
            g = {}
            dz, dword_dec, g["cls.predictions.bias"] = linear_backward(dlogits, c_dec)
            dz, g[t + "LayerNorm.weight"], g[t + "LayerNorm.bias"] = layernorm_backward(dz, c_ln)
            dh, g[t + "dense.weight"], g[t + "dense.bias"] = \
                linear_backward(gelu_backward(dz, c_gelu), c_t)
            grads = self.encoder_backward(dh, c_enc)
            grads["bert.embeddings.word_embeddings.weight"] += dword_dec   # the tied decoder
            grads.update(g)
            return grads
        c_pool, c_drop, c_cls = c_head
        dd, dwc, dbc = linear_backward(dlogits, c_cls)
        dh, g = self.pooler_backward(dropout_backward(dd, c_drop), c_pool)
        grads = self.encoder_backward(dh, c_enc)
        grads.update(g)
        grads["classifier.weight"], grads["classifier.bias"] = dwc, dbc
        return grads

    def _encode(self, params, batch):
        h, _ = self.encoder_forward(params, *self.inputs(batch))
        out = {"last_hidden_state": h}
        if self.spec.pooler:
            out["pooler_output"] = self.pooler_forward(params, h)[0]
        return out
