"""Text classifier, NumPy reference: embedding, masked mean, dropout, two dense layers.

Forward, for ids X (n, T) with 0 = padding:
    E = table[X]                   (n, T, d)        embedding lookup
    M = 1[X != 0]                  (n, T)           the real tokens
    P = Σ_t M E / max(Σ_t M, 1)    (n, d)           masked global average pooling
    D = P · m / (1 - rate)         train mode with mask m; D = P in eval mode
    A = relu(D W1 + b1)            (n, hidden)
    Z = A W2 + b2                  (n, 1)           the logit of "positive"
Backward, each step one kernel's backward:
    dA, dW2, db2 = dense_backward(dZ);  dZ1 = dA · 1[Z1 > 0];  dD, dW1, db1 = dense_backward(dZ1)
    dP = dD · m / (1 - rate);  dE = dP M / max(Σ M, 1) (masked_mean_pool_backward)
    dtable = scatter-add of dE over the ids (embedding_backward; padding rows get 0
    because M is 0 there)
"""

from __future__ import annotations

from kernels import dense_backward, dense_forward, relu_backward, relu_forward
from kernels.dropout import dropout_backward, dropout_forward
from kernels.embedding import embedding_backward, embedding_forward
from kernels.sequence import masked_mean_pool_backward, masked_mean_pool_forward
from models.adapters.numpy_adapter import NumpyNetwork


class Network(NumpyNetwork):
    def forward_cache(self, params, x, *, train=False, masks=None):
        e, c_emb = embedding_forward(x, params["embedding.embeddings"])
        p, c_pool = masked_mean_pool_forward(e, x != 0)
        mask = masks.get("dropout") if train and masks else None   # the adapter's masks
        d, c_drop = dropout_forward(p, mask, self.spec.dropout_rate)
        z1, c1 = dense_forward(d, params["dense1.kernel"], params["dense1.bias"])
        a1, c_relu = relu_forward(z1)
        z2, c2 = dense_forward(a1, params["dense2.kernel"], params["dense2.bias"])
        return z2, (c_emb, c_pool, c_drop, c1, c_relu, c2)

    def backward(self, dz2, cache):
        c_emb, c_pool, c_drop, c1, c_relu, c2 = cache
        da1, dw2, db2 = dense_backward(dz2, c2)
        dd, dw1, db1 = dense_backward(relu_backward(da1, c_relu), c1)
        de = masked_mean_pool_backward(dropout_backward(dd, c_drop), c_pool)
        return {"embedding.embeddings": embedding_backward(de, c_emb),
                "dense1.kernel": dw1, "dense1.bias": db1,
                "dense2.kernel": dw2, "dense2.bias": db2}
