/** The strftime subset FaaSr's InvocationIDFromDate uses (UTC): %Y %m %d %H %M %S %y %j %%. */
export function strftime(format: string, at: Date): string {
  const pad = (value: number, width = 2): string => String(value).padStart(width, '0');
  const startOfYear = Date.UTC(at.getUTCFullYear(), 0, 1);
  const fields: Record<string, string> = {
    Y: String(at.getUTCFullYear()),
    y: pad(at.getUTCFullYear() % 100),
    m: pad(at.getUTCMonth() + 1),
    d: pad(at.getUTCDate()),
    H: pad(at.getUTCHours()),
    M: pad(at.getUTCMinutes()),
    S: pad(at.getUTCSeconds()),
    j: pad(Math.floor((at.getTime() - startOfYear) / 86_400_000) + 1, 3),
    '%': '%',
  };
  return format.replace(/%(.)/g, (whole, letter: string) => fields[letter] ?? whole);
}
