# Built by scripts/buildNative.mjs (kept out of the package root so npm does not run node-gyp itself).
{
  "targets": [
    {
      "target_name": "saelab_blas",
      "sources": ["sgemm_addon.c", "klRows.c", "activations.c", "forwardOps.c", "attentionRows.c", "layerNorm.c", "saeStepAddon.c", "topkEncode.c", "sparseCode.c", "adamw.c", "decoderNorm.c", "logitLosses.c", "elementwise.c"],
      "cflags": ["-O3", "-fno-trapping-math", "-fno-math-errno", "-ffp-contract=off", "-Wno-psabi", "-std=c11", "-Wall", "-Wextra"],
      "libraries": ["-lopenblas", "-lpthread", "-lm"],
      "conditions": [
        ["OS=='mac'", {
          # Homebrew's openblas is keg-only.
          "include_dirs": ["/opt/homebrew/opt/openblas/include", "/usr/local/opt/openblas/include"],
          "libraries": ["-L/opt/homebrew/opt/openblas/lib", "-L/usr/local/opt/openblas/lib"]
        }]
      ]
    }
  ]
}
