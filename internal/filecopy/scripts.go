// Package filecopy holds what both ends of a gopsrp file transfer must agree
// on: the PowerShell scripts session's CopyTo, CopyFrom, Upload and Download
// send, and the line format of the strings those scripts read and write.
// package session sends the scripts; session/sessiontest recognises them by
// their exact text and carries them out against a directory of its own.
//
// # The stream
//
// A transfer is a sequence of strings (pipeline input for ToScript, output
// for FromScript), each one of:
//
//	:d:<rel>             a directory (created if missing; "" is the root itself)
//	:f:<rel>             ToScript: a file starts
//	:f:<length>:<rel>    FromScript: a file of <length> bytes starts
//	<base64>             the next bytes of the current file
//	:e:<sha256>          the current file ends; its SHA-256, lower-case hex
//
// <rel> is a path relative to the root the script was given, with \
// separators, "" for the root itself (a single-file transfer). Base64 never
// starts with ':', so the two kinds of line cannot be confused.
//
// Errors end the pipeline with a terminating ErrorRecord whose
// FullyQualifiedErrorId starts with ErrorIDPrefix followed by a Kind
// (PowerShell may append ",<command>"), its exception the .NET one that
// caused it, so that its message is Windows' own.
package filecopy

import "strings"

// Markers that start the control lines of the stream.
const (
	MarkDir  = ":d:"
	MarkFile = ":f:"
	MarkEnd  = ":e:"
)

// ErrorIDPrefix starts the FullyQualifiedErrorId of the scripts' errors.
const ErrorIDPrefix = "gopsrp.Copy."

// Kinds of transfer error, the part of the error id after ErrorIDPrefix.
const (
	KindNotFound     = "NotFound"     // the path (or its parent) does not exist
	KindIsDirectory  = "IsDirectory"  // a directory where a file is expected
	KindNotDirectory = "NotDirectory" // a file where a directory is expected
	KindAccessDenied = "AccessDenied" // no permission
	KindDiskFull     = "DiskFull"     // no space left (ERROR_DISK_FULL, ERROR_HANDLE_DISK_FULL)
	KindHashMismatch = "HashMismatch" // the SHA-256 of what arrived differs from the sender's
	KindFailed       = "Failed"       // anything else
)

// Kind returns the Kind of a FullyQualifiedErrorId written by the scripts,
// or "" for any other id.
func Kind(fullyQualifiedErrorID string) string {
	rest, ok := strings.CutPrefix(fullyQualifiedErrorID, ErrorIDPrefix)
	if !ok {
		return ""
	}
	kind, _, _ := strings.Cut(rest, ",")
	return kind
}

// commonFunctions are defined by both scripts: New-CopyRecord builds the
// ErrorRecord of a transfer error, ConvertTo-CopyRecord classifies the record
// of a caught .NET failure (unwrapping PowerShell's MethodInvocationException
// to the IOException, UnauthorizedAccessException… underneath; HResult
// 0x80070070 and 0x80070027 are the two "disk full" Win32 errors).
const commonFunctions = `function New-CopyRecord([string] $Kind, [Exception] $Exception, [string] $Target) {
    $category = switch ($Kind) {
        'NotFound' { 'ObjectNotFound' }
        'AccessDenied' { 'PermissionDenied' }
        'IsDirectory' { 'InvalidType' }
        'NotDirectory' { 'InvalidType' }
        'HashMismatch' { 'InvalidResult' }
        default { 'WriteError' }
    }
    New-Object -TypeName Management.Automation.ErrorRecord -ArgumentList @($Exception, ('gopsrp.Copy.' + $Kind), [Management.Automation.ErrorCategory]$category, $Target)
}
function ConvertTo-CopyRecord([Management.Automation.ErrorRecord] $Record, [string] $Target) {
    if ($Record.FullyQualifiedErrorId -like 'gopsrp.Copy.*') { return $Record }
    $e = $Record.Exception
    while ($e -is [Management.Automation.RuntimeException] -and $null -ne $e.InnerException) { $e = $e.InnerException }
    $kind = 'Failed'
    if ($e -is [IO.FileNotFoundException] -or $e -is [IO.DirectoryNotFoundException] -or $e -is [Management.Automation.ItemNotFoundException]) {
        $kind = 'NotFound'
    } elseif ($e -is [UnauthorizedAccessException] -or $e -is [Security.SecurityException]) {
        $kind = 'AccessDenied'
    } elseif ($e -is [IO.IOException] -and @(39, 112) -contains ($e.HResult -band 0xFFFF)) {
        $kind = 'DiskFull'
    }
    New-CopyRecord $kind $e $Target
}
`

// ToScript receives a file or a tree as pipeline input (the stream above)
// and writes it under -Path: a single file is "-Path is the file", a tree is
// "-Path is the directory" (created if missing, merged if present). Each
// chunk is decoded and written to a FileStream as it arrives and fed to a
// SHA-256 (TransformBlock); a file is written to a hidden temporary name in
// its directory and moved into place (replacing an older file) only when
// its hash matches the sender's, so a failed copy leaves the old file. The
// parent of a single file must exist, as for Copy-Item. It writes no output.
//
// Windows PowerShell 5.1 has no clean block: a pipeline stopped between
// chunks may leave its temporary file (.<name>.<guid>.gopsrp) behind.
const ToScript = `[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)] [string] $Path,
    [Parameter(ValueFromPipeline = $true)] [AllowEmptyString()] [string] $InputObject
)
begin {
    $ErrorActionPreference = 'Stop'
    ` + commonFunctions + `function Remove-Partial {
        if ($null -ne $stream) { $stream.Dispose() }
        if ($null -ne $temp) { [IO.File]::Delete($temp) }
    }
    $root = $PSCmdlet.GetUnresolvedProviderPathFromPSPath($Path)
    $target = $root
    $stream = $null
    $temp = $null
    $sha = $null
}
process {
    if ($InputObject.Length -eq 0) { return }
    if ($InputObject.StartsWith(':')) {
        $mark = $InputObject.Substring(0, 3)
        $value = $InputObject.Substring(3)
        if ($mark -eq ':d:' -or $mark -eq ':f:') {
            $target = $root
            if ($value.Length -gt 0) { $target = [IO.Path]::Combine($root, $value) }
        }
        if ($mark -eq ':d:' -and [IO.File]::Exists($target)) {
            $e = New-Object -TypeName IO.IOException -ArgumentList ("The path '" + $target + "' is a file; a directory was expected.")
            $PSCmdlet.ThrowTerminatingError((New-CopyRecord 'NotDirectory' $e $target))
        }
        if ($mark -eq ':f:' -and [IO.Directory]::Exists($target)) {
            $e = New-Object -TypeName IO.IOException -ArgumentList ("The path '" + $target + "' is a directory; a file was expected.")
            $PSCmdlet.ThrowTerminatingError((New-CopyRecord 'IsDirectory' $e $target))
        }
        $failure = $null
        try {
            if ($mark -eq ':d:') {
                [void][IO.Directory]::CreateDirectory($target)
            } elseif ($mark -eq ':f:') {
                $temp = [IO.Path]::Combine([IO.Path]::GetDirectoryName($target), '.' + [IO.Path]::GetFileName($target) + '.' + [guid]::NewGuid().ToString('N') + '.gopsrp')
                $stream = New-Object -TypeName IO.FileStream -ArgumentList @($temp, [IO.FileMode]::CreateNew, [IO.FileAccess]::Write, [IO.FileShare]::None, 65536)
                $sha = [Security.Cryptography.SHA256]::Create()
            } elseif ($mark -eq ':e:') {
                [void]$sha.TransformFinalBlock((New-Object -TypeName byte[] -ArgumentList 0), 0, 0)
                $actual = [BitConverter]::ToString($sha.Hash).Replace('-', '').ToLowerInvariant()
                $sha.Dispose()
                $sha = $null
                $stream.Dispose()
                $stream = $null
                if ($actual -ne $value) {
                    $e = New-Object -TypeName IO.InvalidDataException -ArgumentList ("The SHA-256 of what arrived for '" + $target + "' is " + $actual + ", the sender's is " + $value + ".")
                    $failure = New-CopyRecord 'HashMismatch' $e $target
                } else {
                    if ([IO.File]::Exists($target)) { [IO.File]::Delete($target) }
                    [IO.File]::Move($temp, $target)
                    $temp = $null
                }
            }
        } catch {
            $failure = ConvertTo-CopyRecord $_ $target
        }
        if ($null -ne $failure) {
            Remove-Partial
            $PSCmdlet.ThrowTerminatingError($failure)
        }
        return
    }
    try {
        $bytes = [Convert]::FromBase64String($InputObject)
        [void]$sha.TransformBlock($bytes, 0, $bytes.Length, $null, 0)
        $stream.Write($bytes, 0, $bytes.Length)
    } catch {
        $failure = ConvertTo-CopyRecord $_ $target
        Remove-Partial
        $PSCmdlet.ThrowTerminatingError($failure)
    }
}
end {
    if ($null -ne $stream) {
        Remove-Partial
        $e = New-Object -TypeName IO.EndOfStreamException -ArgumentList ("The input ended before the end of '" + $target + "'.")
        $PSCmdlet.ThrowTerminatingError((New-CopyRecord 'Failed' $e $target))
    }
}
`

// FromScript writes the file or tree at -Path as output (the stream above):
// a file is read ChunkSize bytes at a time into one reused buffer, each
// chunk written as base64 and fed to a SHA-256 as it is read, so the
// script's memory does not grow with the file. A tree is walked breadth
// first, each directory listed before what it holds, empty ones included.
// -File refuses a directory (IsDirectory).
const FromScript = `[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)] [string] $Path,
    [ValidateRange(1, 16777216)] [int] $ChunkSize = 65536,
    [switch] $File
)
$ErrorActionPreference = 'Stop'
` + commonFunctions + `function Send-CopyFile([string] $Source, [string] $Relative) {
    $stream = New-Object -TypeName IO.FileStream -ArgumentList @($Source, [IO.FileMode]::Open, [IO.FileAccess]::Read, [IO.FileShare]::Read, 65536)
    try {
        $sha = [Security.Cryptography.SHA256]::Create()
        ':f:' + $stream.Length + ':' + $Relative
        $buffer = New-Object -TypeName byte[] -ArgumentList $ChunkSize
        while (($read = $stream.Read($buffer, 0, $buffer.Length)) -gt 0) {
            [void]$sha.TransformBlock($buffer, 0, $read, $null, 0)
            [Convert]::ToBase64String($buffer, 0, $read)
        }
        [void]$sha.TransformFinalBlock($buffer, 0, 0)
        ':e:' + [BitConverter]::ToString($sha.Hash).Replace('-', '').ToLowerInvariant()
        $sha.Dispose()
    } finally {
        $stream.Dispose()
    }
}
$root = $PSCmdlet.GetUnresolvedProviderPathFromPSPath($Path)
if ([IO.Directory]::Exists($root)) {
    if ($File) {
        $e = New-Object -TypeName IO.IOException -ArgumentList ("The path '" + $root + "' is a directory; a file was expected.")
        $PSCmdlet.ThrowTerminatingError((New-CopyRecord 'IsDirectory' $e $root))
    }
    $failure = $null
    try {
        ':d:'
        $queue = New-Object -TypeName 'Collections.Generic.Queue[string]'
        $queue.Enqueue($root)
        while ($queue.Count -gt 0) {
            $dir = $queue.Dequeue()
            foreach ($sub in [IO.Directory]::EnumerateDirectories($dir)) {
                ':d:' + $sub.Substring($root.Length).TrimStart('\')
                $queue.Enqueue($sub)
            }
            foreach ($f in [IO.Directory]::EnumerateFiles($dir)) {
                Send-CopyFile $f $f.Substring($root.Length).TrimStart('\')
            }
        }
    } catch {
        $failure = ConvertTo-CopyRecord $_ $root
    }
    if ($null -ne $failure) { $PSCmdlet.ThrowTerminatingError($failure) }
} elseif ([IO.File]::Exists($root)) {
    $failure = $null
    try {
        Send-CopyFile $root ''
    } catch {
        $failure = ConvertTo-CopyRecord $_ $root
    }
    if ($null -ne $failure) { $PSCmdlet.ThrowTerminatingError($failure) }
} else {
    $e = New-Object -TypeName Management.Automation.ItemNotFoundException -ArgumentList ("Cannot find path '" + $root + "' because it does not exist.")
    $PSCmdlet.ThrowTerminatingError((New-CopyRecord 'NotFound' $e $root))
}
`
