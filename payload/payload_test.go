package payload

import (
	"reflect"
	"strings"
	"testing"
)

func TestFindSecrets(t *testing.T) {
	for _, tt := range []struct {
		name    string
		content string
		values  []string
		want    []Span
	}{
		{"none", "scope: demo\n", []string{"Pw0000000000000000"}, nil},
		{"each occurrence", "a: XsecretX\nb: XsecretX\n", []string{"XsecretX"}, []Span{{3, 11}, {15, 23}}},
		{"several values, in order", "b: BBBB a: AAAA\n", []string{"AAAA", "BBBB"}, []Span{{3, 7}, {11, 15}}},
		{"overlapping values merged", "x: ABCDEF\n", []string{"ABCD", "CDEF"}, []Span{{3, 9}}},
		{"a value inside another", "x: ABCDEF\n", []string{"BCD", "ABCDEF"}, []Span{{3, 9}}},
		{"adjacent values kept apart", "ABCDEF", []string{"ABC", "DEF"}, []Span{{0, 3}, {3, 6}}},
		{"empty value ignored", "abc", []string{""}, nil},
		{"whole content", "KEY\n", []string{"KEY\n"}, []Span{{0, 4}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := FindSecrets([]byte(tt.content), tt.values)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("FindSecrets = %v, want %v", got, tt.want)
			}
			if err := CheckSpans(got, len(tt.content)); err != nil {
				t.Errorf("CheckSpans of FindSecrets' own spans: %v", err)
			}
		})
	}
}

func TestCheckSpans(t *testing.T) {
	for _, tt := range []struct {
		name  string
		spans []Span
		size  int
		ok    bool
	}{
		{"none", nil, 0, true},
		{"sorted and disjoint", []Span{{0, 3}, {3, 6}, {8, 10}}, 10, true},
		{"past the end", []Span{{8, 11}}, 10, false},
		{"empty", []Span{{4, 4}}, 10, false},
		{"reversed", []Span{{5, 2}}, 10, false},
		{"negative", []Span{{-1, 2}}, 10, false},
		{"overlapping", []Span{{0, 5}, {4, 6}}, 10, false},
		{"unsorted", []Span{{6, 8}, {0, 2}}, 10, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckSpans(tt.spans, tt.size); (err == nil) != tt.ok {
				t.Errorf("CheckSpans(%v, %d) = %v, want ok=%v", tt.spans, tt.size, err, tt.ok)
			}
		})
	}
}

func TestSecretWholeAndLocated(t *testing.T) {
	content := []byte("KEY DATA\n")
	for _, tt := range []struct {
		name           string
		f              File
		located, whole bool
	}{
		{"plain file", File{Content: content}, true, false},
		{"secret values located", File{Secret: true, Spans: []Span{{0, 3}}, Content: content}, true, false},
		{"one span over all (a key)", File{Secret: true, Spans: []Span{{0, len(content)}}, Content: content}, true, true},
		{"secret without spans (an older manifest)", File{Secret: true, Content: content}, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.SecretsLocated(); got != tt.located {
				t.Errorf("SecretsLocated = %v, want %v", got, tt.located)
			}
			if got := tt.f.SecretWhole(); got != tt.whole {
				t.Errorf("SecretWhole = %v, want %v", got, tt.whole)
			}
		})
	}
}

// TestApplyEntriesSpans: the spans a manifest records come back with the
// file, a file with spans is secret, and spans that do not fit are an error.
func TestApplyEntriesSpans(t *testing.T) {
	n := sampleNode()
	es := n.Entries()
	for i := range es {
		if es[i].Path == "/etc/pgha-bundle/node.env" {
			es[i].SecretSpans = []Span{{11, 14}}
		}
	}
	got := sampleNode()
	for i := range got.Files {
		got.Files[i].Secret, got.Files[i].Owner = false, ""
	}
	if err := got.ApplyEntries(es); err != nil {
		t.Fatal(err)
	}
	f, _ := got.Lookup("/etc/pgha-bundle/node.env")
	if !f.Secret || !reflect.DeepEqual(f.Spans, []Span{{11, 14}}) || !reflect.DeepEqual(f.SecretValues(), []string{"pg1"}) {
		t.Errorf("node.env after ApplyEntries: secret=%v spans=%v values=%q", f.Secret, f.Spans, f.SecretValues())
	}

	for i := range es {
		if es[i].Path == "/etc/pgha-bundle/node.env" {
			es[i].SecretSpans = []Span{{10, 1000}}
		}
	}
	bad := sampleNode()
	if err := bad.ApplyEntries(es); err == nil || !strings.Contains(err.Error(), "/etc/pgha-bundle/node.env: secret span [10, 1000]") {
		t.Errorf("ApplyEntries with a span past the end: %v", err)
	}
}
