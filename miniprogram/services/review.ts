/** Staff verification (人工核验): a person's requests, and the reviewers' queue and decisions. */
import type { ResponseOf, ReviewDecideRequest, ReviewSubmitRequest } from '../shared/contracts';
import { callCloud } from './cloud';
import { noticeVersion } from '../shared/consent';

export function submitReview(
  request: Omit<ReviewSubmitRequest, 'noticeVersion'>,
): Promise<ResponseOf<'review', 'submit'>> {
  return callCloud('review', 'submit', { ...request, noticeVersion: noticeVersion('manual') });
}

export function myReviews(): Promise<ResponseOf<'review', 'mine'>> {
  return callCloud('review', 'mine', {});
}

export function reviewQueue(): Promise<ResponseOf<'review', 'queue'>> {
  return callCloud('review', 'queue', {});
}

export function decideReview(request: ReviewDecideRequest): Promise<ResponseOf<'review', 'decide'>> {
  return callCloud('review', 'decide', request);
}
