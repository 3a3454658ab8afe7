// gelu_new forward and backward over n floats (activations.c), long arrays over OpenBLAS's thread count.
#ifndef SAELAB_ACTIVATIONS_H
#define SAELAB_ACTIVATIONS_H
#include <stdint.h>

void gelu_forward(const float *x, int64_t n, float *y);
void gelu_backward(const float *x, const float *dy, int64_t n, float *dx);
#endif
