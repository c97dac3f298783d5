package torchpickle

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/internal/testdirs"
	"github.com/ainfonce/goacl/internal/torchenv"
	"github.com/ainfonce/goacl/interop/internal/tensorbytes"
	"github.com/ainfonce/goacl/interop/safetensors"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// The fixtures in interop/testdata are written by interop/pytorch/make_fixtures.py with
// PyTorch 1.13 (TestFixturesMatchPyTorch regenerates and compares them).
func fixture(name string) string { return filepath.Join("..", "testdata", name) }

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(fixture(name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// sameStateDict fails unless a and b hold the same names, shapes, dtypes and bytes.
func sameStateDict(t *testing.T, a, b map[string]*tensors.Tensor) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d tensors vs %d: %v vs %v", len(a), len(b), StateDict(a).Names(), StateDict(b).Names())
	}
	for name, x := range a {
		y, ok := b[name]
		if !ok {
			t.Fatalf("tensor %q missing", name)
		}
		if !x.Shape().Equal(y.Shape()) {
			t.Fatalf("tensor %q: %s vs %s", name, x.Shape(), y.Shape())
		}
		bx, _ := tensorbytes.Bytes(x)
		by, _ := tensorbytes.Bytes(y)
		if !bytes.Equal(bx, by) {
			t.Fatalf("tensor %q: values differ", name)
		}
	}
}

func TestPlainStateDict(t *testing.T) {
	c, err := Load(fixture("plain.pt"))
	if err != nil {
		t.Fatal(err)
	}
	sd, key, err := c.StateDict()
	if err != nil || key != "" {
		t.Fatalf("StateDict: key %q, %v", key, err)
	}
	want := []string{"0.weight", "1.bias", "1.num_batches_tracked", "1.running_mean", "1.running_var", "1.weight", "3.bias", "3.weight"}
	if !slices.Equal(sd.Names(), want) {
		t.Fatalf("names %v, want %v", sd.Names(), want)
	}
	w := tensors.MustCopyFlatData[float32](sd["0.weight"])
	for i, v := range w {
		if v != float32(i)/100 {
			t.Fatalf("0.weight[%d] = %g", i, v)
		}
	}
	if n := sd["1.num_batches_tracked"]; n.DType() != dtypes.Int64 || n.Rank() != 0 || tensors.ToScalar[int64](n) != 12 {
		t.Errorf("num_batches_tracked = %v", n)
	}
	if got := tensors.MustCopyFlatData[float32](sd["1.running_var"]); !slices.Equal(got, []float32{1.5, 2.5, 0.5, 4}) {
		t.Errorf("running_var = %v", got)
	}
	root := c.Root.(*Dict)
	if !root.Ordered || root.Attrs == nil {
		t.Fatalf("root is not an OrderedDict with _metadata: %+v", root)
	}
	if _, ok := root.Attrs.Get("_metadata"); !ok {
		t.Error("no _metadata attribute")
	}
}

// expected returns make_fixtures.py's state dict as written by safetensors.torch.
func expected(t *testing.T) map[string]*tensors.Tensor {
	t.Helper()
	f, err := safetensors.ReadFile(fixture("expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	return f.Tensors
}

func withPrefix(p string, sd map[string]*tensors.Tensor) map[string]*tensors.Tensor {
	out := map[string]*tensors.Tensor{}
	for k, v := range sd {
		out[p+k] = v
	}
	return out
}

// TestNestedCheckpoint reads a training-script checkpoint with every dtype, strided and
// shared-storage views, a Parameter and plain Python values, in pickle protocols 2 and 4.
func TestNestedCheckpoint(t *testing.T) {
	for _, name := range []string{"nested.pt", "proto4.pt"} {
		c, err := Load(fixture(name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sd, key, err := c.StateDict()
		if err != nil || key != "state_dict" {
			t.Fatalf("%s: key %q, %v", name, key, err)
		}
		sameStateDict(t, withPrefix("module.", expected(t)), sd)
		root := c.Root.(*Dict)
		get := func(k string) any {
			v, ok := root.Get(k)
			if !ok {
				t.Fatalf("%s: no %q", name, k)
			}
			return v
		}
		if get("epoch") != int64(7) || get("acc") != 83.5 || get("name") != "fixture" || get("nothing") != nil || get("negative") != int64(-5) {
			t.Errorf("%s: scalars %v %v %v %v %v", name, get("epoch"), get("acc"), get("name"), get("nothing"), get("negative"))
		}
		if b, ok := get("big").(*big.Int); !ok || b.Cmp(new(big.Int).Lsh(big.NewInt(1), 70)) != 0 {
			t.Errorf("%s: big = %v", name, get("big"))
		}
		if s, ok := get("shape").(Tuple); !ok || len(s) != 2 || s[0] != int64(2) || s[1] != int64(3) {
			t.Errorf("%s: torch.Size = %v", name, get("shape"))
		}
		if p, ok := get("pair").(Tuple); !ok || len(p) != 3 || p[1] != 2.5 || p[2] != "a" {
			t.Errorf("%s: pair = %v", name, get("pair"))
		}
		if r, ok := get("raw").([]byte); !ok || !bytes.Equal(r, []byte{0, 1}) {
			t.Errorf("%s: raw = %v", name, get("raw"))
		}
		optim := get("optim").(*Dict)
		state, _ := optim.Get("state")
		if e := state.(*Dict).Entries(); len(e) != 1 || e[0].Key != int64(0) {
			t.Errorf("%s: optimizer state %v", name, e)
		}
		groups, _ := optim.Get("param_groups")
		if l := groups.(*List); len(l.Items) != 1 {
			t.Errorf("%s: param_groups %v", name, l.Items)
		}
		// Explicit keys: the first present one wins; a non-dict is an error.
		if _, key, err := c.StateDict("missing", "state_dict"); err != nil || key != "state_dict" {
			t.Errorf("%s: StateDict(missing, state_dict): %q %v", name, key, err)
		}
		if _, _, err := c.StateDict("epoch"); err == nil || !strings.Contains(err.Error(), `"epoch" holds a int`) {
			t.Errorf("%s: StateDict(epoch): %v", name, err)
		}
		if _, _, err := c.StateDict("optim"); err == nil || !strings.Contains(err.Error(), "not a tensor") {
			t.Errorf("%s: StateDict(optim): %v", name, err)
		}
		if _, _, err := c.StateDict("nope"); err == nil || !strings.Contains(err.Error(), "epoch (int)") || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: StateDict(nope): %v", name, err)
		}
	}
}

// TestRejectsCode: a pickle that would call os.system when unpickled is refused, naming
// the global, and so are the other ways a pickle can call or construct things.
func TestRejectsCode(t *testing.T) {
	_, err := Load(fixture("evil.pt"))
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "posix.system") {
		t.Fatalf("evil.pt: err = %v, want a refusal naming posix.system", err)
	}
	cases := []struct {
		name, pickle, want string
	}{
		{"eval", "\x80\x02cbuiltins\neval\nX\x04\x00\x00\x001+1\x85R.", "builtins.eval"},
		{"stack global", "\x80\x04\x8c\x02os\x8c\x06system\x93.", "os.system"},
		{"subprocess", "csubprocess\nPopen\n.", "subprocess.Popen"},
		{"torch load", "ctorch\nload\n.", "torch.load"},
		{"newobj", "\x80\x02ccollections\nOrderedDict\n)\x81.", "NEWOBJ"},
		{"inst", "(ios\nsystem\nX\x01\x00\x00\x00x.", "INST"},
		{"obj", "(ccollections\nOrderedDict\no.", "OBJ"},
		{"reduce non-callable", "\x80\x02X\x01\x00\x00\x00f)R.", "REDUCE calls a str"},
		{"reduce storage class", "\x80\x02ctorch\nFloatStorage\n)R.", "cannot be called"},
		{"build list", "\x80\x02]}b.", "BUILD on a list"},
		{"build dict", "\x80\x02}}b.", "BUILD on a dict"},
		{"append to dict", "\x80\x02}K\x01a.", "APPEND to a dict"},
		{"setitem on list", "\x80\x02]K\x01K\x02s.", "SETITEM on a list"},
		{"ordered dict args", "\x80\x02ccollections\nOrderedDict\n]\x85R.", "OrderedDict called with 1"},
		{"persid outside checkpoint", "\x80\x02K\x01Q.", "persistent id"},
		{"protocol 0 opcode", "I1\n.", "INT"},
	}
	// A dict key of memoised tuples nested 40 deep, (t, t) of (t, t) of …, would take 2⁴⁰
	// steps to hash: refused by depth and size bounds, quickly.
	deep := "\x80\x02}N" + strings.Repeat("q\x00h\x00\x86", 40) + "K\x01s."
	if _, err := Unpickle([]byte(deep), nil); err == nil || !strings.Contains(err.Error(), "dict key") {
		t.Errorf("deeply shared tuple key: err = %v", err)
	}
	wide := "\x80\x02}N" + strings.Repeat("q\x00h\x00h\x00\x87", 20) + "K\x01s."
	if _, err := Unpickle([]byte(wide), nil); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("large shared tuple key: err = %v", err)
	}
	for _, c := range cases {
		_, err := Unpickle([]byte(c.pickle), nil)
		if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want a refusal mentioning %q", c.name, err, c.want)
		}
	}
	// Truncated and malformed pickles are errors, not refusals.
	for _, p := range []string{"", "\x80\x02", "\x80\x02X\xff\x00\x00\x00ab.", "\x80\x02h\x05.", "\x80\x02t.", "\x80\x02.", "\x80\x09N.", "\xfe"} {
		if _, err := Unpickle([]byte(p), nil); err == nil || errors.Is(err, ErrRejected) {
			t.Errorf("Unpickle(%q): err = %v, want a plain error", p, err)
		}
	}
}

// fakeStorage returns a persistent loader serving storages of n float32 values 0, 1, 2, ….
func fakeStorage(n int64) func(pid any) (any, error) {
	return func(pid any) (any, error) {
		data := make([]float32, n)
		for i := range data {
			data[i] = float32(i)
		}
		b, _ := tensorbytes.Bytes(tensors.FromFlatDataAndDimensions(data, int(n)))
		return &Storage{DType: dtypes.Float32, Key: "0", Location: "cpu", NumEl: n, load: func() ([]byte, error) { return b, nil }}, nil
	}
}

// rebuild returns a pickle calling _rebuild_tensor_v2 on a storage at offset with size and
// stride tuples given as pickle fragments.
func rebuild(offset, size, stride string) []byte {
	return []byte("\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(K\x00Q" + offset + size + stride +
		"\x89ccollections\nOrderedDict\n)Rt" + "R.")
}

func TestTensorViews(t *testing.T) {
	k := func(n byte) string { return "K" + string([]byte{n}) }
	ok := []struct {
		name                 string
		offset, size, stride string
		want                 []float32
		dims                 []int
	}{
		{"contiguous", k(0), k(2) + k(3) + "\x86", k(3) + k(1) + "\x86", []float32{0, 1, 2, 3, 4, 5}, []int{2, 3}},
		{"transposed", k(0), k(3) + k(2) + "\x86", k(1) + k(3) + "\x86", []float32{0, 3, 1, 4, 2, 5}, []int{3, 2}},
		{"offset", k(4), k(2) + "\x85", k(1) + "\x85", []float32{4, 5}, []int{2}},
		{"strided", k(1), k(3) + "\x85", k(4) + "\x85", []float32{1, 5, 9}, []int{3}},
		{"scalar", k(7), ")", ")", []float32{7}, []int{}},
		{"empty", k(12), k(0) + k(5) + "\x86", k(5) + k(1) + "\x86", []float32{}, []int{0, 5}},
	}
	for _, c := range ok {
		v, err := Unpickle(rebuild(c.offset, c.size, c.stride), fakeStorage(12))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		m, err := v.(*Tensor).Materialize()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !slices.Equal(m.Shape().Dimensions, c.dims) {
			t.Errorf("%s: shape %s, want %v", c.name, m.Shape(), c.dims)
		}
		if got := tensors.MustCopyFlatData[float32](m); len(c.want) > 0 && !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	bad := []struct{ name, offset, size, stride, want string }{
		{"past the end", k(10), k(3) + "\x85", k(1) + "\x85", "reaches element 12"},
		{"stride past the end", k(0), k(2) + k(2) + "\x86", k(11) + k(1) + "\x86", "reaches element 12"},
		{"expanded", k(0), k(20) + "\x85", k(0) + "\x85", "expanded views"},
		{"rank mismatch", k(0), k(2) + "\x85", ")", "1 sizes but 0 strides"},
		{"negative size", k(0), "J\xff\xff\xff\xff\x85", k(1) + "\x85", "non-negative"},
		{"empty past the end", k(13), k(0) + "\x85", k(1) + "\x85", "past its storage"},
		{"huge", k(0), "\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40" + "\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40\x86", k(1) + k(1) + "\x86", "too large"},
	}
	for _, c := range bad {
		_, err := Unpickle(rebuild(c.offset, c.size, c.stride), fakeStorage(12))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
	// Hooks and tensor metadata (conjugate/negative bits) are refused.
	hooks := "\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(K\x00QK\x00K\x01\x85K\x01\x85\x89}K\x01K\x02stR."
	if _, err := Unpickle([]byte(hooks), fakeStorage(4)); !errors.Is(err, ErrRejected) {
		t.Errorf("backward hooks: %v", err)
	}
	meta := "\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(K\x00QK\x00K\x01\x85K\x01\x85\x89N}X\x03\x00\x00\x00negK\x01stR."
	if _, err := Unpickle([]byte(meta), fakeStorage(4)); !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "metadata") {
		t.Errorf("tensor metadata: %v", err)
	}
}

// rezip copies the torch archive src, letting edit change a record (return nil to drop
// it), then adds the extra records.
func rezip(t *testing.T, src []byte, edit func(name string, data []byte) []byte, extra map[string][]byte, method uint16) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(src), int64(len(src)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	write := func(name string, data []byte) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			data = edit(f.Name, data)
		}
		if data != nil {
			write(f.Name, data)
		}
	}
	for name, data := range extra {
		write(name, data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestBigEndianArchive swaps every storage's bytes and marks the archive big-endian, as
// PyTorch ≥ 2.1 does on big-endian machines: the tensors must read the same.
func TestBigEndianArchive(t *testing.T) {
	src := readFixture(t, "nested.pt")
	c0, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int{} // element size of each storage record
	for _, e := range c0.Root.(*Dict).Entries() {
		if e.Key == "state_dict" {
			for _, te := range e.Value.(*Dict).Entries() {
				st := te.Value.(*Tensor).Storage
				sizes["nested/data/"+st.Key] = st.DType.Size()
			}
		}
	}
	swapped := rezip(t, src, func(name string, data []byte) []byte {
		es := sizes[name]
		if es > 1 {
			data = slices.Clone(data)
			for i := 0; i < len(data); i += es {
				slices.Reverse(data[i : i+es])
			}
		}
		return data
	}, map[string][]byte{"nested/byteorder": []byte("big")}, zip.Store)
	c, err := Parse(swapped)
	if err != nil {
		t.Fatal(err)
	}
	if !c.BigEndian {
		t.Fatal("byteorder record not honoured")
	}
	got, _, err := c.StateDict()
	if err != nil {
		t.Fatal(err)
	}
	sameStateDict(t, withPrefix("module.", expected(t)), got)
}

func TestRejectsBadArchives(t *testing.T) {
	src := readFixture(t, "plain.pt")
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"not a checkpoint", []byte("hello"), "not a torch.save checkpoint"},
		{"pickle without magic", []byte("\x80\x02K\x01."), "no legacy magic number"},
		{"broken zip", []byte("PK\x03\x04garbage"), "zip archive"},
		{"compressed", rezip(t, src, nil, nil, zip.Deflate), "compressed"},
		{"torchscript", rezip(t, src, nil, map[string][]byte{"plain/constants.pkl": {0x80, 2, '.'}}, zip.Store), "TorchScript"},
		{"two archives", rezip(t, src, nil, map[string][]byte{"other/data.pkl": {0x80, 2, '.'}}, zip.Store), "exactly one"},
		{"missing storage", rezip(t, src, func(n string, d []byte) []byte {
			if n == "plain/data/3" {
				return nil
			}
			return d
		}, nil, zip.Store), "has no record plain/data/3"},
		{"short storage", rezip(t, src, func(n string, d []byte) []byte {
			if n == "plain/data/3" {
				return d[:len(d)-4]
			}
			return d
		}, nil, zip.Store), "record plain/data/3 holds"},
		{"bad byteorder", rezip(t, src, nil, map[string][]byte{"plain/byteorder": []byte("middle")}, zip.Store), "byteorder"},
	}
	for _, c := range cases {
		_, err := Parse(c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
	path := filepath.Join(t.TempDir(), "x.pt")
	if err := os.WriteFile(path, []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Load: %v, want the path in the error", err)
	}
}

// TestLegacyFormat reads the pre-1.6 torch.save format (ACL's released checkpoint was saved
// by PyTorch 1.5): the same tensors as the zip format, and the same refusals.
func TestLegacyFormat(t *testing.T) {
	for _, pair := range [][2]string{{"legacy.pt", "plain.pt"}, {"legacy_nested.pt", "nested.pt"}} {
		legacy, err := Load(fixture(pair[0]))
		if err != nil {
			t.Fatal(err)
		}
		zipped, err := Load(fixture(pair[1]))
		if err != nil {
			t.Fatal(err)
		}
		a, ka, err1 := legacy.StateDict()
		b, kb, err2 := zipped.StateDict()
		if err1 != nil || err2 != nil || ka != kb {
			t.Fatalf("%s: %q %v, %q %v", pair[0], ka, err1, kb, err2)
		}
		sameStateDict(t, a, b)
	}
	src := readFixture(t, "legacy.pt")
	// The header pickles (magic, version, system info) end before the object's pickle.
	_, pos, _ := unpickleAt(src, 0, nil)
	_, pos, _ = unpickleAt(src, pos, nil)
	_, header, _ := unpickleAt(src, pos, nil)
	evilZip := readFixture(t, "evil.pt")
	zr, err := zip.NewReader(bytes.NewReader(evilZip), int64(len(evilZip)))
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := zr.File[0].Open()
	evilPickle, _ := io.ReadAll(rc)
	rc.Close()
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", src[:len(src)-3], "storage"},
		{"trailing bytes", append(slices.Clone(src), 0), "after the last storage"},
		{"bad version", append(append(slices.Clone(src[:15]), "\x80\x02M\xea\x03."...), src[21:]...), "version 1002"},
		{"os.system", append(slices.Clone(src[:header]), evilPickle...), "posix.system"},
	}
	for _, c := range cases {
		_, err := Parse(c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
}

// TestFixturesMatchPyTorch regenerates the fixtures with the installed PyTorch and checks
// that they decode to what the committed ones do (the zip bytes themselves may differ).
func TestFixturesMatchPyTorch(t *testing.T) {
	py := torchenv.Require(t)
	dir := t.TempDir()
	py.Run(t, filepath.Join(testdirs.RepoRoot(t), "interop", "pytorch", "make_fixtures.py"), dir)
	for _, name := range []string{"plain.pt", "nested.pt", "proto4.pt"} {
		committed, err := Load(fixture(name))
		if err != nil {
			t.Fatal(err)
		}
		fresh, err := Load(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		a, _, err1 := committed.StateDict()
		b, _, err2 := fresh.StateDict()
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		sameStateDict(t, a, b)
	}
	if _, err := Load(filepath.Join(dir, "evil.pt")); !errors.Is(err, ErrRejected) {
		t.Errorf("fresh evil.pt: %v", err)
	}
	for _, pair := range [][2]string{{"legacy.pt", "plain.pt"}, {"legacy_nested.pt", "nested.pt"}} {
		legacy, err := Load(filepath.Join(dir, pair[0]))
		if err != nil {
			t.Fatal(err)
		}
		zipped, err := Load(fixture(pair[1]))
		if err != nil {
			t.Fatal(err)
		}
		a, _, err1 := legacy.StateDict()
		b, _, err2 := zipped.StateDict()
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		sameStateDict(t, a, b)
	}
}

// checkValues walks a decoded value (cycles allowed) and fails on any type the unpickler
// must not produce.
func checkValues(t *testing.T, v any, seen map[any]bool) {
	switch x := v.(type) {
	case nil, bool, int64, *big.Int, float64, string, []byte:
	case Tuple:
		if len(x) == 0 || seen[&x[0]] { // memoised tuples can share: visit each once
			return
		}
		seen[&x[0]] = true
		for _, e := range x {
			checkValues(t, e, seen)
		}
	case *List:
		if seen[x] {
			return
		}
		seen[x] = true
		for _, e := range x.Items {
			checkValues(t, e, seen)
		}
	case *Dict:
		if seen[x] {
			return
		}
		seen[x] = true
		for _, e := range x.Entries() {
			checkValues(t, e.Key, seen)
			checkValues(t, e.Value, seen)
		}
		if x.Attrs != nil {
			checkValues(t, x.Attrs, seen)
		}
	case *Tensor:
		if m, err := x.Materialize(); err == nil && !slices.Equal(m.Shape().Dimensions, x.Shape()) {
			t.Fatalf("tensor of %v materialised as %s", x.Size, m.Shape())
		} // errors are fine (a damaged record fails its zip checksum); panics are not

	case *Storage, global:
	default:
		t.Fatalf("unpickler produced a %T", v)
	}
}

// FuzzUnpickle: arbitrary pickles never panic, and decode only to the allowed types.
func FuzzUnpickle(f *testing.F) {
	for _, name := range []string{"nested.pt", "proto4.pt", "plain.pt", "evil.pt"} {
		data, err := os.ReadFile(fixture(name))
		if err != nil {
			f.Fatal(err)
		}
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			f.Fatal(err)
		}
		for _, zf := range zr.File {
			if strings.HasSuffix(zf.Name, "data.pkl") {
				rc, _ := zf.Open()
				pkl, _ := io.ReadAll(rc)
				rc.Close()
				f.Add(pkl)
			}
		}
	}
	f.Add(rebuild("K\x00", "K\x02K\x03\x86", "K\x01K\x02\x86"))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Unpickle(data, fakeStorage(16))
		if err != nil {
			return
		}
		checkValues(t, v, map[any]bool{})
	})
}

// FuzzCheckpoint: arbitrary archives (mutated real ones) never panic, and whatever loads
// yields only allowed types and a state dict or an error.
func FuzzCheckpoint(f *testing.F) {
	for _, name := range []string{"nested.pt", "proto4.pt", "plain.pt", "evil.pt", "legacy.pt", "legacy_nested.pt"} {
		data, err := os.ReadFile(fixture(name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		checkValues(t, c.Root, map[any]bool{})
		_, _, _ = c.StateDict()
	})
}
