// ToolJson: every document the tool writes with --json, by source generation (no reflection: the
// tool is published with Native AOT). The options are the tool's JSON conventions: camelCase
// property names, dictionary keys as they are, indented, NaN and infinities as the strings
// "NaN"/"Infinity", enums by name. KernelEvidence (a section of ReplayResult) is registered on its
// own too, so what the traced kernel recorded can be written without a replay around it.
using System.Text.Json.Serialization;
using Buddy.Simulation.Replay;
using Buddy.Simulation.Scenarios;
using Buddy.Tool.Commands;
using Buddy.Tracing;

namespace Buddy.Tool;

/// <summary>What <c>buddy scenario isa-dma-1995 --json</c> and <c>buddy scenario highalloc --json</c> write.</summary>
/// <typeparam name="T">The scenario's per-policy result.</typeparam>
/// <param name="Scenario">The scenario's name.</param>
/// <param name="Seed">The seed it ran with.</param>
/// <param name="Policies">Each policy's result.</param>
internal sealed record ScenarioRun<T>(string Scenario, int Seed, IReadOnlyList<T> Policies);

/// <summary>The source-generated serializers of the tool's JSON documents.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    WriteIndented = true,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(ReplayResult))]
[JsonSerializable(typeof(KernelEvidence))]
[JsonSerializable(typeof(KnuthResult))]
[JsonSerializable(typeof(ScenarioRun<IsaDmaPolicyResult>))]
[JsonSerializable(typeof(ScenarioRun<HighAllocPolicyResult>))]
[JsonSerializable(typeof(List<BenchCommand.Measurement>))]
internal sealed partial class ToolJson : JsonSerializerContext;
