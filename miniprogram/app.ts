import { receiveReferrer } from './services/citycheck';

App<IAppOption>({
  globalData: {},
  /** Back from another mini-program: the city service's consent page returns its code here. */
  onShow(options) {
    receiveReferrer(options);
  },
});
