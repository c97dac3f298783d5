package datasets

import "math/rand/v2"

// mix64 is the SplitMix64 finaliser: a bijective 64-bit mixer that turns nearby
// integers into unrelated seeds.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// NewSampleRand returns the generator used for one view of one sample: a PCG stream
// seeded from (seed, epoch) and (index, view). It depends on nothing else, so an
// augmentation computed with it is the same whichever worker computes it and in
// whatever order samples are processed.
func NewSampleRand(seed uint64, epoch, index, view int) *rand.Rand {
	hi := mix64(mix64(seed) ^ uint64(int64(epoch))*0xd1b54a32d192ed03)
	lo := mix64(mix64(uint64(int64(index))^0x243f6a8885a308d3) + uint64(int64(view)))
	return rand.New(rand.NewPCG(hi, lo))
}

// epochRand returns the generator used to shuffle the records of one epoch.
func epochRand(seed uint64, epoch int) *rand.Rand {
	return rand.New(rand.NewPCG(mix64(seed^0x6a09e667f3bcc908), mix64(uint64(int64(epoch))+0xbb67ae8584caa73b)))
}
