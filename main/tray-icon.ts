// A 32×32 cleaver (PNG), inline so it loads the same from source, dist/ and inside the asar.
export const TRAY_ICON_DATA_URL =
  "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAACAAAAAgCAYAAABzenr0AAAARUlEQVR4nGNgGAWjYBQMJmDd9O0/tfDQdgA1HDXqAIocQCmWc1hPEI86YNQBw9sBA54Nh64DqOmQUQdQ5IBRMApGwYgCAGNgnLKBtBHlAAAAAElFTkSuQmCC";
