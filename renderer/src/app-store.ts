// The app's store instance, wired to the page it runs in.
import { desktopBridge, pageOrigin } from './desktop';
import { createAppStore } from './store';

export const useAppStore = createAppStore({
  defaultBaseUrl: pageOrigin(window.location),
  storage: window.localStorage,
  desktop: desktopBridge(),
});
