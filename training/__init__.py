"""OneFlow toy model: data, model, training, export, reference sampler, evaluator."""
import os

# Debian's torch links the system BLAS; with OpenBLAS (pthreads) its own thread pool fights torch's
# OpenMP pool and is slower on 2 cores. One BLAS thread per call is fastest here (measured).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
