"""launchd: the LaunchDaemon plist, checked without a Mac.

plistlib parses it and the launchd keys are checked for presence and type (a misspelt key is
silently ignored by launchd, so unknown keys fail here); xmllint validates it against the local
copy of Apple's plist DTD with the network off; its paths are compared with what `meson install`
does and with what launchd/README.md tells the user to type; and the real binary accepts its
arguments.
"""

import json
import os
import plistlib
import re
import shutil
import subprocess

from harness import REPO, ScenarioTest, binary_path

LAUNCHD = os.path.join(REPO, "launchd")
LABEL = "org.zt-token-proxy.daemon"
PLIST = os.path.join(LAUNCHD, LABEL + ".plist")
DTD = os.path.join(LAUNCHD, "PropertyList-1.0.dtd")
CATALOG = os.path.join(LAUNCHD, "catalog.xml")
README = os.path.join(LAUNCHD, "README.md")

# Every key launchd.plist(5) documents; anything else is a typo launchd would ignore.
KNOWN_KEYS = {
    "Label", "Disabled", "UserName", "GroupName", "inetdCompatibility", "LimitLoadToHosts",
    "LimitLoadFromHosts", "LimitLoadToSessionType", "LimitLoadToHardware", "LimitLoadFromHardware",
    "Program", "ProgramArguments", "EnableGlobbing", "EnableTransactions", "EnablePressuredExit",
    "OnDemand", "ServiceIPC", "KeepAlive", "RunAtLoad", "RootDirectory", "WorkingDirectory",
    "EnvironmentVariables", "Umask", "TimeOut", "ExitTimeOut", "ThrottleInterval", "InitGroups",
    "WatchPaths", "QueueDirectories", "StartOnMount", "StartInterval", "StartCalendarInterval",
    "StandardInPath", "StandardOutPath", "StandardErrorPath", "Debug", "WaitForDebugger",
    "SoftResourceLimits", "HardResourceLimits", "Nice", "ProcessType", "AbandonProcessGroup",
    "LowPriorityIO", "LowPriorityBackgroundIO", "MaterializeDatalessFiles", "LaunchOnlyOnce",
    "MachServices", "Sockets", "LaunchEvents", "SessionCreate", "LegacyTimers",
    "AssociatedBundleIdentifiers",
}
RESOURCE_KEYS = {"Core", "CPU", "Data", "FileSize", "MemoryLock", "NumberOfFiles",
                 "NumberOfProcesses", "ResidentSetSize", "Stack"}
PROCESS_TYPES = {"Background", "Standard", "Adaptive", "Interactive"}
DEFAULT_MAX_CONNECTIONS = 1024
DEFAULT_SHUTDOWN_S = 10


def load_plist(path=PLIST):
    with open(path, "rb") as f:
        return plistlib.load(f)


def xmllint(path):
    """xmllint --nonet --dtdvalid against the local DTD; the catalog resolves the DOCTYPE locally."""
    exe = shutil.which("xmllint")
    if exe is None:
        raise AssertionError("xmllint not found: install libxml2-utils (scripts/bootstrap.sh --test does)")
    env = dict(os.environ, XML_CATALOG_FILES=CATALOG)
    return subprocess.run([exe, "--nonet", "--noout", "--dtdvalid", DTD, path], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)


class LaunchdPlistTests(ScenarioTest):
    timeout = 60

    def test_required_keys_and_types(self):
        p = load_plist()
        self.assertIsInstance(p, dict)
        unknown = set(p) - KNOWN_KEYS
        self.assertFalse(unknown, f"keys launchd does not know (typos?): {sorted(unknown)}")

        self.assertEqual(p.get("Label"), LABEL)
        self.assertEqual(os.path.basename(PLIST), p["Label"] + ".plist", "file name = label + .plist")
        self.assertFalse(p["Label"].lower().startswith("com.zerotier."), "ZeroTier's namespace")

        args = p.get("ProgramArguments")
        self.assertIsInstance(args, list)
        self.assertTrue(args and all(isinstance(a, str) for a in args), args)
        self.assertNotIn("Program", p, "ProgramArguments[0] is the program")
        self.assertTrue(os.path.isabs(args[0]), f"launchd does not search PATH: {args[0]}")
        self.assertEqual(os.path.basename(args[0]), "zt-token-proxy")
        self.assertIn("--config", args)
        cfg = args[args.index("--config") + 1]
        self.assertTrue(os.path.isabs(cfg), cfg)

        self.assertIs(p.get("RunAtLoad"), True)
        keep = p.get("KeepAlive")
        self.assertTrue(keep is True or (isinstance(keep, dict) and keep), f"KeepAlive: {keep!r}")
        for key in ("StandardOutPath", "StandardErrorPath"):
            self.assertIsInstance(p.get(key), str, key)
            self.assertTrue(os.path.isabs(p[key]), key)

        # The extras: present, typed, and consistent with the daemon's defaults.
        self.assertEqual(p.get("UserName"), "root")
        self.assertIsInstance(p.get("ThrottleInterval"), int)
        self.assertGreater(p["ThrottleInterval"], 0)
        self.assertIsInstance(p.get("ExitTimeOut"), int)
        self.assertGreater(p["ExitTimeOut"], DEFAULT_SHUTDOWN_S,
                           "launchd must not SIGKILL before timeouts.shutdown has run out")
        self.assertIn(p.get("ProcessType"), PROCESS_TYPES - {"Background"})
        limits = p.get("SoftResourceLimits")
        self.assertIsInstance(limits, dict)
        self.assertFalse(set(limits) - RESOURCE_KEYS, limits)
        self.assertIsInstance(limits.get("NumberOfFiles"), int)
        # A client and an upstream descriptor per connection, plus a few of its own.
        self.assertGreater(limits["NumberOfFiles"], 2 * DEFAULT_MAX_CONNECTIONS)
        for key, value in p.items():
            if key not in ("Label", "ProgramArguments", "StandardOutPath", "StandardErrorPath",
                           "ProcessType", "UserName", "KeepAlive", "SoftResourceLimits"):
                self.assertIsInstance(value, (bool, int), f"{key}: {value!r}")

    def test_no_secrets_in_the_plist(self):
        # /Library/LaunchDaemons is world-readable: tokens go in root-only files instead.
        p = load_plist()
        self.assertNotIn("EnvironmentVariables", p)
        with open(PLIST, encoding="utf-8") as f:
            text = f.read()
        self.assertNotRegex(text, r"(?i)ZEROTIER_CENTRAL|authtoken\.secret</string>|token</key>")

    def test_dtd_valid_offline(self):
        r = xmllint(PLIST)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "", "no network fetch, no warning")

    def test_dtd_rejects_a_broken_plist(self):
        # The validation itself can fail: a key without a value, and an unknown element.
        with open(PLIST, encoding="utf-8") as f:
            text = f.read()
        for name, broken in (("no-value", text.replace("<true/>", "", 1)),
                             ("unknown-element", text.replace("<true/>", "<yes/>", 1))):
            self.assertNotEqual(broken, text)
            path = self.write_file(name + ".plist", broken)
            r = xmllint(path)
            self.assertNotEqual(r.returncode, 0, f"{name} passed validation")
            self.assertIn("validity error", r.stderr)

    def test_readme_commands_match(self):
        p = load_plist()
        with open(README, encoding="utf-8") as f:
            readme = f.read()
        cfg = p["ProgramArguments"][p["ProgramArguments"].index("--config") + 1]
        for text in (f"launchctl bootstrap system /Library/LaunchDaemons/{LABEL}.plist",
                     f"launchctl kill HUP system/{LABEL}",
                     f"launchctl print system/{LABEL}",
                     f"launchctl bootout system/{LABEL}",
                     f"launchctl kickstart -k system/{LABEL}",
                     f"{p['ProgramArguments'][0]} --check-config --config {cfg}",
                     p["StandardErrorPath"]):
            self.assertIn(text, readme)
        # The README's token path is what the build uses on macOS.
        with open(os.path.join(REPO, "meson.build"), encoding="utf-8") as f:
            m = re.search(r"'darwin'\s*:\s*'([^']+)'", f.read())
        self.assertIsNotNone(m, "meson.build maps darwin to a ZeroTier home")
        self.assertIn(f"`{m.group(1)}/authtoken.secret`", readme)
        with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
            top = f.read()
        self.assertRegex(top, r"(?m)^## macOS \(launchd\)$")
        self.assertIn("(launchd/README.md)", top)

    def test_paths_are_where_meson_installs(self):
        build = os.path.dirname(os.path.dirname(binary_path()))
        meson = shutil.which("meson")
        if meson is None or not os.path.isdir(os.path.join(build, "meson-info")):
            self.skipTest(f"{build} is not a meson build directory")
        opts = json.loads(subprocess.run([meson, "introspect", "--buildoptions", build], check=True,
                                         stdout=subprocess.PIPE, text=True).stdout)
        prefix = next(o["value"] for o in opts if o["name"] == "prefix")
        if prefix != "/usr/local":
            self.skipTest(f"configured with --prefix={prefix}; the plist assumes /usr/local")
        installed = json.loads(subprocess.run([meson, "introspect", "--installed", build], check=True,
                                              stdout=subprocess.PIPE, text=True).stdout)
        p = load_plist()
        args = p["ProgramArguments"]
        self.assertIn(args[0], installed.values())
        self.assertEqual(installed.get(os.path.join(REPO, "config", "zt-token-proxy.yaml")),
                         args[args.index("--config") + 1])

    def test_binary_takes_the_arguments(self):
        # The plist's arguments, with the installed configuration replaced by its source.
        args = load_plist()["ProgramArguments"][1:]
        args[args.index("--config") + 1] = os.path.join(REPO, "config", "zt-token-proxy.yaml")
        r = self.run_cli(["--check-config", *args])
        self.assertEqual(r.rc, 0, r)
        self.assertIn("configuration OK", r.stdout + r.stderr)
