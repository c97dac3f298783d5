package datasets

import (
	"context"
	"testing"
)

// BenchmarkViews measures single-goroutine images/s of each view pipeline on 32×32
// images (ToTensor included).
func BenchmarkViews(b *testing.B) {
	ds := randomDataset(256, 1)
	views := map[string]Transform{
		"rocl": RoCLTransform(), "advcl-strong": AdvCLStrongTransform(), "advcl-weak": AdvCLWeakTransform(),
		"advcl-hfc": Compose(AdvCLWeakTransform(), HighFrequencyTransform()), "acl": ACLTransform(),
		"dynacl-1": DynACLTransform(1), "finetune": FinetuneTransform(),
	}
	for _, name := range []string{"rocl", "advcl-strong", "advcl-weak", "advcl-hfc", "acl", "dynacl-1", "finetune"} {
		tr := views[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				img := ds.Image(i % ds.Len())
				tr(img, NewSampleRand(1, 0, i, 0))
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// BenchmarkLoader measures the samples/s of the full multi-view input pipeline with
// runtime.NumCPU() workers, per method, batch 512.
func BenchmarkLoader(b *testing.B) {
	ds := randomDataset(2048, 2)
	for _, c := range []struct {
		name  string
		views []View
	}{{"rocl", RoCLViews()}, {"advcl", AdvCLViews()}, {"acl", ACLViews()}, {"finetune", FinetuneViews()}} {
		b.Run(c.name, func(b *testing.B) {
			l, err := NewLoader(ds, c.views, LoaderConfig{BatchSize: 512, Seed: 1, Shuffle: true})
			if err != nil {
				b.Fatal(err)
			}
			samples, epoch := 0, 0
			for b.Loop() {
				for bt, err := range l.Epoch(context.Background(), epoch) {
					if err != nil {
						b.Fatal(err)
					}
					samples += bt.Size()
				}
				epoch++
			}
			b.ReportMetric(float64(samples)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
