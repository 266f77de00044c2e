/** The "All workflows / one workflow" filter the Runs and Logs pages share. */
export function WorkflowSelect({ value, workflows, onChange, testId }: { value: string; workflows: string[]; onChange(workflow: string): void; testId: string }) {
  return (
    <select className="select workflow-select" value={value} onChange={(e) => onChange(e.target.value)} data-testid={testId} aria-label="Workflow">
      <option value="">All workflows</option>
      {workflows.map((w) => (
        <option key={w} value={w}>
          {w}
        </option>
      ))}
    </select>
  );
}
