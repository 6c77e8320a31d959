// Lab vCenter simulator: govmomi's simulator package (the engine behind upstream `vcsim`)
// with the lab inventory prepared in-process.
//
// Why not upstream vcsim/main.go: since govmomi split vcsim/ into its own nested Go module,
// github.com/vmware/govmomi/vcsim has no tags and the Go module proxy answers 404/403 for it,
// so `go install .../vcsim@...` cannot work from the proxy. The simulator package itself is in
// the tagged github.com/vmware/govmomi module, so this small main is built against it instead.
//
// Inventory: the default VPX model (datacenter DC0, cluster DC0_C0 with 3 hosts, standalone host,
// datastore LocalDS_0, networks "VM Network" and DC0_DVPG0, VMs DC0_H0_VM0, DC0_C0_RP0_VM0, ...)
// plus a VM folder "portable" and a powered-off template (default name "portable-template")
// cloned from DC0_C0_RP0_VM0 into the datacenter's vm folder.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	_ "github.com/vmware/govmomi/vapi/simulator" // REST endpoints (/rest, /api): tags, content library
)

func main() {
	listen := flag.String("l", "127.0.0.1:8989", "listen address (keep it on loopback)")
	user := flag.String("username", "", "login user (any user is accepted when empty)")
	pass := flag.String("password", "", "login password")
	template := flag.String("template", "portable-template", "name of the VM template to create (empty: none)")
	source := flag.String("template-source", "DC0_C0_RP0_VM0", "VM the template is cloned from")
	folder := flag.String("folder", "portable", "VM folder to create in DC0 (empty: none)")
	flag.Parse()

	model := simulator.VPX()
	model.ServiceContent.About.FullName += " (govmomi simulator, portable lab)"
	if err := model.Create(); err != nil {
		log.Fatal(err)
	}
	// simulator v0.56 never sets runtime.faultToleranceState nor runtime.recordReplayState: they
	// are serialized as empty enum values, which pyVmomi 9 refuses ("FaultToleranceState has no
	// attribute ''"), so reading vm.runtime or vm.summary fails. Give every VM, present and
	// future, the values of a real vCenter: "notConfigured" and "inactive".
	for _, e := range model.Map().All("VirtualMachine") {
		fixVM(e)
	}
	model.Map().AddHandler(&vmHook{types.ManagedObjectReference{Type: "PortableLabHook", Value: "vm-defaults"}})
	u := &url.URL{Host: *listen}
	if *user != "" {
		u.User = url.UserPassword(*user, *pass)
	}
	model.Service.RegisterEndpoints = true
	model.Service.Listen = u
	model.Service.TLS = new(tls.Config)
	s := model.Service.NewServer()
	s.Server.Config.Handler = fetchFix{s.Server.Config.Handler}

	if err := prepare(s.URL, *template, *source, *folder); err != nil {
		log.Fatalf("preparing lab inventory: %v", err)
	}
	// the lab waits for this line (same format as upstream vcsim)
	fmt.Printf("export GOVC_URL=%s GOVC_SIM_PID=%d\n", s.URL, os.Getpid())
	fmt.Println("lab inventory ready")

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	s.Close()
	model.Remove()
}

type vmHook struct{ self types.ManagedObjectReference }

func (h *vmHook) Reference() types.ManagedObjectReference                               { return h.self }
func (h *vmHook) PutObject(_ *simulator.Context, o mo.Reference)                        { fixVM(o) }
func (h *vmHook) UpdateObject(*simulator.Context, mo.Reference, []types.PropertyChange) {}
func (h *vmHook) RemoveObject(*simulator.Context, types.ManagedObjectReference)         {}

func fixVM(o mo.Reference) {
	vm, ok := o.(*simulator.VirtualMachine)
	if !ok {
		return
	}
	if vm.Runtime.FaultToleranceState == "" {
		vm.Runtime.FaultToleranceState = types.VirtualMachineFaultToleranceStateNotConfigured
	}
	if vm.Runtime.RecordReplayState == "" {
		vm.Runtime.RecordReplayState = types.VirtualMachineRecordReplayStateInactive
	}
	if vm.Summary.Runtime.FaultToleranceState == "" {
		vm.Summary.Runtime.FaultToleranceState = types.VirtualMachineFaultToleranceStateNotConfigured
	}
	if vm.Summary.Runtime.RecordReplayState == "" {
		vm.Summary.Runtime.RecordReplayState = types.VirtualMachineRecordReplayStateInactive
	}
}

func prepare(u *url.URL, template, source, folder string) error {
	ctx := context.Background()
	c, err := govmomi.NewClient(ctx, u, true)
	if err != nil {
		return err
	}
	defer c.Logout(ctx)
	f := find.NewFinder(c.Client, true)
	dc, err := f.DefaultDatacenter(ctx)
	if err != nil {
		return err
	}
	f.SetDatacenter(dc)
	folders, err := dc.Folders(ctx)
	if err != nil {
		return err
	}
	if folder != "" {
		if _, err := folders.VmFolder.CreateFolder(ctx, folder); err != nil {
			return fmt.Errorf("create folder %s: %w", folder, err)
		}
	}
	if template == "" {
		return nil
	}
	src, err := f.VirtualMachine(ctx, source)
	if err != nil {
		return err
	}
	task, err := src.Clone(ctx, folders.VmFolder, template, types.VirtualMachineCloneSpec{Template: true})
	if err != nil {
		return err
	}
	if err := task.Wait(ctx); err != nil {
		return fmt.Errorf("clone %s -> %s: %w", source, template, err)
	}
	return nil
}

// fetchFix: simulator v0.56 answers a Fetch of an unset property (the root folder's `parent`, read
// by pyVmomi's property accessors, e.g. in libcloud's vSphere driver walking a host's parents up to
// the root) with its internal RetrievePropertiesExResponse body instead of an empty FetchResponse
// (property_collector.go, "if len(obj.PropSet) == 0 ... return res"); pyVmomi then fails with
// KeyError 'type'. A real vCenter answers an empty FetchResponse, which pyVmomi reads as None.
type fetchFix struct{ next http.Handler }

func (f fetchFix) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Body == nil {
		f.next.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if !bytes.Contains(body, []byte("<Fetch ")) && !bytes.Contains(body, []byte("<Fetch>")) {
		f.next.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	f.next.ServeHTTP(rec, r)
	out := rec.Body.Bytes()
	if i, j := bytes.Index(out, []byte("<RetrievePropertiesExResponse")), bytes.LastIndex(out, []byte("</RetrievePropertiesExResponse>")); i >= 0 && j > i {
		out = append(append(append([]byte{}, out[:i]...), `<FetchResponse xmlns="urn:vim25"></FetchResponse>`...),
			out[j+len("</RetrievePropertiesExResponse>"):]...)
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(out)))
	w.WriteHeader(rec.Code)
	_, _ = w.Write(out)
}
