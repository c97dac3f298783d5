package field

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
)

func TestErrorPhrasing(t *testing.T) {
	e := Errorf("subset", "{subset} = %d is smaller than {batch_size} = %d", 8, 16)
	if got := e.Error(); got != "subset = 8 is smaller than batch_size = 16" {
		t.Errorf("Error() = %q", got)
	}
	flags := map[string]string{"subset": "-subset", "batch_size": "-batch"}
	if got := e.Phrase(func(k string) string { return flags[k] }); got != "-subset = 8 is smaller than -batch = 16" {
		t.Errorf("Phrase = %q", got)
	}
	// Braces that are not keys stay as they are.
	p := Errorf("pseudo_label_dir", "{pseudo_label_dir}: needs pseudo_train_{2,10,50}.npy")
	if got := p.Error(); got != "pseudo_label_dir: needs pseudo_train_{2,10,50}.npy" {
		t.Errorf("Error() = %q", got)
	}
}

func TestWithinAndWrap(t *testing.T) {
	e := Within("loss", Errorf("alpha", "{alpha} = %g: want α ∈ [0, 1]", 1.5))
	var fe *Error
	if !errors.As(e, &fe) || fe.Key != "loss.alpha" || e.Error() != "loss.alpha = 1.5: want α ∈ [0, 1]" {
		t.Errorf("Within: %v (key %q)", e, fe.Key)
	}
	w := Wrap("data_dir", io.ErrUnexpectedEOF)
	if !errors.Is(w, io.ErrUnexpectedEOF) || w.Error() != "data_dir: unexpected EOF" {
		t.Errorf("Wrap: %v", w)
	}
	if got := Within("attack", fmt.Errorf("plain")); !strings.HasPrefix(got.Error(), "attack: plain") {
		t.Errorf("Within of a plain error: %v", got)
	}
	if Wrap("x", nil) != nil || Within("x", nil) != nil {
		t.Error("nil errors must stay nil")
	}
}

func TestFinite(t *testing.T) {
	type inner struct {
		Alpha float64   `json:"alpha"`
		Rates []float64 `json:"rates"`
		skip  float64
	}
	type outer struct {
		Loss  inner    `json:"loss"`
		Extra *inner   `json:"extra,omitempty"`
		Node  *float64 `json:"-"`
		N     int      `json:"n"`
	}
	nan := math.NaN()
	if err := Finite(outer{Node: &nan, Loss: inner{skip: nan}}); err != nil {
		t.Errorf("finite config: %v", err)
	}
	for _, c := range []struct {
		v   outer
		key string
	}{
		{outer{Loss: inner{Alpha: nan}}, "loss.alpha"},
		{outer{Loss: inner{Rates: []float64{1, math.Inf(-1)}}}, "loss.rates"},
		{outer{Extra: &inner{Alpha: math.Inf(1)}}, "extra.alpha"},
	} {
		var fe *Error
		if err := Finite(&c.v); !errors.As(err, &fe) || fe.Key != c.key || !strings.Contains(err.Error(), "must be a finite number") {
			t.Errorf("want a field error of %s, got %v", c.key, err)
		}
	}
}
