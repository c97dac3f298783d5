// Package layers holds the neural-network building blocks of goacl in PyTorch semantics:
// BatchNorm with named branches (dual/triple BN) and a switch that freezes its running
// statistics, convolutions and dense layers with PyTorch's initialisations, the CIFAR
// ResNet-18 and a small CNN behind one Encoder interface, and the projection heads of
// RoCL, AdvCL and ACL.
//
// Conventions shared by every layer of this package:
//
//   - Images are NHWC ([N,H,W,C]); convolution kernels are HWIO ([kh,kw,Cin,Cout]); dense
//     weights are [in,out]. PyTorch checkpoints need their weights transposed (conv
//     OIHW→HWIO: axes (2,3,1,0); linear [out,in]→[in,out]).
//   - Variables live in the scope of the context given to the layer and are created with
//     the dtype of the layer's input. Models and heads open one named scope of their own
//     ("resnet18", "smallcnn", "projector", "head_proj", "fc_002", "proj_head"); the
//     small layers (NewConv2D, NewLinear, NewBatchNorm) use the scope they are given.
//     Variable names: "weights", "biases" (conv, linear) and "gamma", "beta",
//     "running_mean", "running_var" (BN), e.g.
//     resnet18/stage2/block1/conv1/weights and resnet18/stage2/block1/bn1/pgd/gamma.
//   - The same variables are used by several forward passes (clean and adversarial views,
//     BN branches) and by several graphs (train step, attack, evaluation). Use a context
//     made with context.New().Checked(false) (or manage Reuse yourself): with a checked
//     context the second forward pass through a layer panics.
//   - Train or eval mode is the context's per-graph flag (ctx.SetTraining(g, …)). In
//     train mode BatchNorm normalises with batch statistics and, unless FreezeBNStats was
//     called for the graph, updates its running statistics with Variable.SetValueGraph,
//     which context.Exec writes back after the run. Several passes through the same BN in
//     one graph chain their updates in call order, as sequential PyTorch forwards do.
//   - Graph-building functions panic on misuse (GoMLX's convention); functions that do
//     not build graphs return errors.
package layers
