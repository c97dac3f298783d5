// Package datasets loads the image data sets used by the A-InfoNCE reproduction
// (CIFAR-10, CIFAR-100, STL-10) from their official binary releases, reads the AdvCL
// cluster pseudo labels, and implements the torchvision augmentations and per-method
// view pipelines (RoCL, AdvCL, ACL, DynACL, fine-tuning) together with a deterministic,
// parallel input pipeline.
//
// Conventions used throughout the package:
//
//   - Images are stored HWC (height, width, channel) and batches NHWC.
//   - Datasets keep pixels as uint8; augmentations work on float32 pixels in [0,1]
//     (the result of torchvision's ToTensor), with no mean/std normalisation.
//   - Randomness is always explicit: every augmentation receives a *rand.Rand
//     (math/rand/v2, PCG) and the input pipeline seeds one generator per
//     (seed, epoch, sample, view), so results never depend on the number of workers.
//   - Nothing panics on bad input: readers and parsers return errors that name the
//     file and what was expected.
package datasets
