// AdamW (see adamw.h). Built with -std=c11, so gcc does not contract a·b + c into an FMA and each
// f64 operation rounds as JavaScript's does.

#include "adamw.h"
#include "fastExp.h"
#include "parallelFor.h"
#include <math.h>

typedef struct {
  float *param, *m, *v;
  const float *grad;
  double beta1, beta2, eps, decay, stepSize, bc2Sqrt;
} adam_t;

// Vectorised in double (sqrt inline: -fno-math-errno), 4 lanes in the AVX2 clone; each lane's
// operations are the scalar ones, so the bits stay those of the TypeScript twin.
SAELAB_VECTOR_CLONES
static void adam_range(void *arg, int64_t lo, int64_t hi, int tid) {
  (void)tid;
  const adam_t *A = (const adam_t *)arg;
  const double b1 = A->beta1, b2 = A->beta2, c1 = 1 - A->beta1, c2 = 1 - A->beta2;
  for (int64_t i = lo; i < hi; i++) {
    const double g = A->grad[i];
    const float mi = (float)(b1 * (double)A->m[i] + c1 * g);
    const float vi = (float)(b2 * (double)A->v[i] + c2 * g * g);
    A->m[i] = mi;
    A->v[i] = vi;
    A->param[i] = (float)((double)A->param[i] * A->decay - A->stepSize * ((double)mi / (sqrt((double)vi) / A->bc2Sqrt + A->eps)));
  }
}

void adamw_update(float *param, const float *grad, float *m, float *v, int64_t n, double beta1, double beta2, double eps,
                  double decay, double stepSize, double bc2Sqrt, int threads) {
  adam_t A = {param, m, v, grad, beta1, beta2, eps, decay, stepSize, bc2Sqrt};
  // Small arrays (biases) are not worth a thread.
  parallel_for(&A, n, n < (1 << 16) ? 1 : threads, adam_range);
}
