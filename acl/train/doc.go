// Package train is the one training loop of goacl: pretraining (every method), the three
// finetuning protocols and the linear probe describe their step, their data and their
// side effects to a Loop, and Loop.Run does the rest, the same way for all of them.
//
// One step of Run, for batch b of epoch e (State.Epoch, State.Batch):
//
//  1. stop cleanly if the context is cancelled (status "interrupted") or the step limit is
//     reached (status "stopped"), saving a checkpoint first when checkpoints are kept;
//  2. take the next batch from Data (its inputs are built ahead by the loader's workers),
//     then the host inputs of the step (Loop.Inputs: e.g. AdvCL's d̄, DynACL's w);
//  3. set the learning rate from the Schedule into the model's learning-rate variable;
//  4. run the compiled step: the forward pass and loss that Loop.Step builds (in training
//     mode, BatchNorm statistics updating), then the Optimizer's update; the loss and the
//     named terms come back in sorted-name order as float64;
//  5. let Loop.Inspect see (and, in fault-injection tests, alter) the result, then check
//     it: a NaN or ±Inf loss stops the run with ErrNonFinite, status "failed" with
//     the step, loss and terms, and the last good checkpoint kept;
//  6. Loop.AfterStep (per-step host state and monitors), a metrics record every LogEvery
//     steps and at each epoch end, the progress report;
//  7. at the end of an epoch a checkpoint (when kept) and Loop.EndEpoch (per-epoch
//     evaluation and selection); every Checkpoints.Every steps a checkpoint too.
//
// Checkpoints are never written from variables holding NaN or ±Inf. Progress goes to
// Loop.Progress as a progress bar with rate and ETA when it is a terminal, as plain lines
// otherwise (CI, notebooks, pipes).
//
// Where the follow-ups plug in: a periodic evaluation (a kNN monitor) is an EndEpoch or
// AfterStep hook; a per-step host callback is AfterStep (or Inputs for values fed to the
// graph); the device or sharding choice is made where the step is compiled (compileStep in
// devices.go), the one place the loop builds an executable: Loop.Devices > 1 splits each
// batch over that many XLA devices with the result of one device (data parallelism).
package train
