// kstatus: compute the kstatus status of one Kubernetes object, the way
// Flux, kpt and cli-utils' status poller see it.
//
//	kubectl get s3connection NAME -o json | kstatus
//	kstatus < object.yaml
//
// Reads one object (JSON or YAML) on stdin, runs
// sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute on it and prints
//
//	{"status":"Current|InProgress|Failed|Terminating|NotFound|Unknown","message":"..."}
//
// and exits 0. Empty input (or `null`) means the object does not exist:
// NotFound. If Compute itself reports an error, the status is Unknown and the
// error is the message. Input that is not one object exits 1 with a message
// on stderr. Built by hack/tools.sh kstatus.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

type output struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "usage: kstatus < object.{json,yaml}")
		os.Exit(2)
	}
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("reading stdin: %v", err)
	}
	out := compute(in)
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		fail("writing stdout: %v", err)
	}
}

func compute(in []byte) output {
	in = bytes.TrimSpace(in)
	if len(in) == 0 || string(in) == "null" {
		return output{Status: string(status.NotFoundStatus), Message: "no object on stdin"}
	}
	// YAML is a superset of JSON; YAMLToJSON keeps JSON input as it is.
	js, err := yaml.YAMLToJSON(in)
	if err != nil {
		fail("stdin is neither JSON nor YAML: %v", err)
	}
	u := &unstructured.Unstructured{}
	// UnmarshalJSON decodes numbers as int64/float64 the way the API
	// machinery does (and rejects objects without apiVersion/kind).
	if err := u.UnmarshalJSON(js); err != nil {
		fail("stdin is not a Kubernetes object: %v", err)
	}
	if u.IsList() {
		fail("stdin is a list (%s); pass one object", u.GetKind())
	}
	res, err := status.Compute(u)
	if err != nil {
		return output{Status: string(status.UnknownStatus), Message: err.Error()}
	}
	return output{Status: string(res.Status), Message: res.Message}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "kstatus: "+format+"\n", args...)
	os.Exit(1)
}
